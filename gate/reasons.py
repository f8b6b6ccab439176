"""What each rule says to the person at the gate, in Chinese and English; keyed by rule id."""

from __future__ import annotations

from gate.model import AlertSpec, Severity

REASONS: dict[str, tuple[str, str]] = {
    "pass.malformed": ("无法识别的二维码", "Not a readable pass"),
    "pass.bad_signature": ("通行证签名无效，疑似伪造", "Pass signature invalid: forged or altered"),
    "pass.unknown_key": ("通行证签发者不受信任", "Pass signed by an unknown issuer"),
    "pass.key_not_allowed": ("该签发者无权签发此类通行证", "Issuer may not sign this kind of pass"),
    "pass.expired": ("通行证已过期", "Pass expired"),
    "pass.not_yet_valid": ("通行证尚未生效", "Pass not yet valid"),
    "pass.revoked": ("通行证已作废", "Pass revoked"),
    "pass.other_compound": ("非本小区通行证", "Pass is for another compound"),
    "person.unknown": ("未登记人员", "Person not registered"),
    "face.unknown": ("未识别的人脸，请出示通行证或联系门岗", "Face not recognised: show your pass or "
                     "ask the guard"),
    "face.mismatch": ("通行证与持证人不符", "Pass presented by another person"),
    "face.missing": ("请正对摄像头，需核验本人", "Face the camera: holder must be verified"),
    "face.not_live": ("活体检测未通过", "Liveness check failed"),
    "permit.missing": ("无有效出入证", "No permit on record"),
    "permit.expired": ("出入证已过期", "Permit expired"),
    "permit.not_yet_valid": ("出入证尚未生效", "Permit not yet valid"),
    "visitor.no_host": ("访客无接待住户", "Visitor has no host household"),
    "green.in": ("绿码，请通行", "Green: welcome home"),
    "green.out": ("绿码，请通行", "Green: you may leave"),
    "yellow.in": ("黄码，准予进入", "Yellow: you may enter"),
    "yellow.exit": ("黄码，准予外出，请尽快返回", "Yellow: you may leave, please return soon"),
    "yellow.exit_window": ("黄码，不在允许外出时段", "Yellow: outside the exit hours"),
    "yellow.household_quota": ("黄码，本户本期外出次数已用完", "Yellow: your household's exits for this "
                               "period are used up"),
    "yellow.companions": ("黄码，禁止结伴外出", "Yellow: one person at a time, no companions"),
    "red.exit_denied": ("红码，居家观察期间禁止外出", "Red: home observation, you may not leave"),
    "red.in": ("红码，准予进入，已通知网格员", "Red: entry allowed, grid worker notified"),
    "white.unverified": ("白码，尚未核验，请联系门岗", "White: not yet verified, please see the guard"),
    "anti_passback": ("重复同向通行，请联系门岗", "Already passed this way: please see the guard"),
}

OBSERVATION_OVER = ("观察期已满，待社区确认", "observation period over, awaiting confirmation")

ALERTS: dict[str, tuple[Severity, str, str]] = {
    "forged_pass": (Severity.URGENT, "伪造或篡改的通行证", "forged or altered pass"),
    "revoked_pass": (Severity.WARNING, "已作废的通行证被使用", "revoked pass presented"),
    "pass_shared": (Severity.WARNING, "通行证被他人使用", "pass presented by another person"),
    "red_exit_attempt": (Severity.URGENT, "红码人员试图外出", "red-permit holder tried to leave"),
    "red_entry": (Severity.WARNING, "红码人员进入小区", "red-permit holder entered"),
    "passback": (Severity.WARNING, "重复同向通行", "passed twice in the same direction"),
    "tailgating": (Severity.WARNING, "多人同时通行（尾随）", "several people passed at once"),
}


def reason(rule: str, extra: tuple[str, str] | None = None) -> tuple[str, str]:
    """The zh and en texts of a rule, with an optional clause added to each."""
    zh, en = REASONS[rule]
    if extra is not None:
        zh, en = f"{zh}（{extra[0]}）", f"{en} ({extra[1]})"
    return zh, en


def alert(kind: str, who: str | None) -> AlertSpec:
    """An alert of a known kind about `who` (a person id, or None)."""
    severity, zh, en = ALERTS[kind]
    suffix = f": {who}" if who else ""
    return AlertSpec(kind, severity, f"{zh}{'：' + who if who else ''}", f"{en}{suffix}")
