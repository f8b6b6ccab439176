"""What each rule says to the person at the gate, in Chinese and English, and what each alert
of a decision says to the guards."""

from __future__ import annotations

from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind, Rule

REASONS: dict[Rule, tuple[str, str]] = {
    Rule.PASS_MALFORMED: ("无法识别的二维码", "Not a readable pass"),
    Rule.PASS_BAD_SIGNATURE: ("通行证签名无效，疑似伪造", "Pass signature invalid: forged or altered"),
    Rule.PASS_UNKNOWN_KEY: ("通行证签发者不受信任", "Pass signed by an unknown issuer"),
    Rule.PASS_KEY_NOT_ALLOWED: ("该签发者无权签发此类通行证", "Issuer may not sign this kind of pass"),
    Rule.PASS_EXPIRED: ("通行证已过期", "Pass expired"),
    Rule.PASS_NOT_YET_VALID: ("通行证尚未生效", "Pass not yet valid"),
    Rule.PASS_REVOKED: ("通行证已作废", "Pass revoked"),
    Rule.PASS_OTHER_COMPOUND: ("非本小区通行证", "Pass is for another compound"),
    Rule.PASS_STALE_CODE: ("动态码已过期，截图无效，请出示手机上的实时码",
                           "Live code out of date: a screenshot does not work, show the live "
                           "code on your phone"),
    Rule.PASS_FUTURE_CODE: ("动态码时间超前，请校准手机时间", "Live code made for a later time: set "
                            "your phone's clock"),
    Rule.PASS_REPLAYED: ("动态码已使用，请等待刷新后再试", "Live code already used: wait for the "
                         "next one"),
    Rule.PASS_BAD_PROOF: ("动态码校验失败，请出示本人手机上的实时码", "Live code invalid: show the "
                          "live code on the holder's own phone"),
    Rule.PASS_LIVE_REQUIRED: ("此类通行证须出示手机实时码，纸质或截图无效", "Show the live code on "
                              "your phone: a printed pass is not accepted for this colour"),
    Rule.PERSON_UNKNOWN: ("未登记人员", "Person not registered"),
    Rule.FACE_UNKNOWN: ("未识别的人脸，请出示通行证或联系门岗", "Face not recognised: show your pass or "
                        "ask the guard"),
    Rule.FACE_MISMATCH: ("通行证与持证人不符", "Pass presented by another person"),
    Rule.FACE_MISSING: ("请正对摄像头，需核验本人", "Face the camera: holder must be verified"),
    Rule.FACE_NOT_LIVE: ("活体检测未通过", "Liveness check failed"),
    Rule.PERMIT_MISSING: ("无有效出入证", "No permit on record"),
    Rule.PERMIT_EXPIRED: ("出入证已过期", "Permit expired"),
    Rule.PERMIT_NOT_YET_VALID: ("出入证尚未生效", "Permit not yet valid"),
    Rule.VISITOR_NO_HOST: ("访客无接待住户", "Visitor has no host household"),
    Rule.GREEN_IN: ("绿码，请通行", "Green: welcome home"),
    Rule.GREEN_OUT: ("绿码，请通行", "Green: you may leave"),
    Rule.YELLOW_IN: ("黄码，准予进入", "Yellow: you may enter"),
    Rule.YELLOW_EXIT: ("黄码，准予外出，请尽快返回", "Yellow: you may leave, please return soon"),
    Rule.YELLOW_EXIT_WINDOW: ("黄码，不在允许外出时段", "Yellow: outside the exit hours"),
    Rule.YELLOW_HOUSEHOLD_QUOTA: ("黄码，本户本期外出次数已用完", "Yellow: your household's exits for "
                                  "this period are used up"),
    Rule.YELLOW_COMPANIONS: ("黄码，禁止结伴外出", "Yellow: one person at a time, no companions"),
    Rule.RED_EXIT_DENIED: ("红码，居家观察期间禁止外出", "Red: home observation, you may not leave"),
    Rule.RED_IN: ("红码，准予进入，已通知网格员", "Red: entry allowed, grid worker notified"),
    Rule.WHITE_UNVERIFIED: ("白码，尚未核验，请联系门岗", "White: not yet verified, please see the guard"),
    Rule.ANTI_PASSBACK: ("重复同向通行，请联系门岗", "Already passed this way: please see the guard"),
    Rule.COMPOUND_STALE: ("各门暂时失联，本门暂停此类通行", "Gates out of touch: this passage waits until they reconnect"),
    Rule.COMPOUND_GUARD: ("各门暂时失联，请门岗核实放行", "Gates out of touch: the guard will decide"),
    Rule.GATE_LOCKDOWN: ("门禁已封锁", "Gate in lockdown"),
    Rule.DOOR_NOT_RELEASED: ("门未能打开，请联系门岗", "The door did not open: please see the guard"),
    # Decided by the checkpoint (gate/rulebook.py), shown on the gate display like the others.
    Rule.RULES_STALE: ("通行规则或信任列表已过期，请门岗核实放行",
                       "The gate's rules are out of date: the guard will decide"),
}

OBSERVATION_OVER = ("观察期已满，待社区确认", "observation period over, awaiting confirmation")

ALERTS: dict[AlertKind, tuple[Severity, str, str]] = {
    AlertKind.FORGED_PASS: (Severity.URGENT, "伪造或篡改的通行证", "forged or altered pass"),
    AlertKind.REVOKED_PASS: (Severity.WARNING, "已作废的通行证被使用", "revoked pass presented"),
    AlertKind.PASS_SHARED: (Severity.WARNING, "通行证被他人使用", "pass presented by another person"),
    AlertKind.RED_EXIT_ATTEMPT: (Severity.URGENT, "红码人员试图外出", "red-permit holder tried to leave"),
    AlertKind.RED_ENTRY: (Severity.WARNING, "红码人员进入小区", "red-permit holder entered"),
    AlertKind.PASSBACK: (Severity.WARNING, "重复同向通行", "passed twice in the same direction"),
    AlertKind.TAILGATING: (Severity.WARNING, "多人同时通行（尾随）", "several people passed at once"),
}

# Alerts raised outside a decision, with the fields their texts name.
PROBING: dict[str, tuple[Severity, str, str]] = {
    "passes": (Severity.URGENT, "{reader} 有人反复出示伪造、签发者不明或无法识别的通行证",
               "someone keeps showing forged, unknown-key or unreadable passes at {reader}"),
    "pass": (Severity.WARNING, "通行证 {pass_id} 被反复拒绝", "pass {pass_id} refused again and again"),
    "faces": (Severity.WARNING, "{reader} 短时间内出现多张未识别的人脸", "a burst of unknown faces at {reader}"),
}
OVERRIDE_APPROVAL = (Severity.WARNING,
                     "{actor} 请求为红码人员人工放行（{reader}）：需另一账号在 {seconds} 秒内批准",
                     "{actor} asks to open {reader} for a red-permit holder: a second account must approve within {seconds} s")
STALE: dict[AlertKind, tuple[Severity, str, str]] = {
    AlertKind.TRUST_STALE: (Severity.URGENT, "信任列表（版本 {version}）已 {days} 天未更新，超过上限 {limit} 天：{action}",
                            "the trust list in force (version {version}) is {days} days old, over its maximum of {limit}: {action}"),
    AlertKind.POLICY_STALE: (Severity.URGENT, "通行规则（版本 {version}）已 {days} 天未更新，超过上限 {limit} 天：{action}",
                             "the policy in force (version {version}) is {days} days old, over its maximum of {limit}: {action}"),
}
RULES_STALE_REASON = REASONS[Rule.RULES_STALE]
CLOCK_UNSYNCED = (Severity.WARNING, "闸机时钟未同步（{now}）：通行证有效期判断可能出错，请检查网络时间同步",
                  "the gate's clock is not synchronised ({now}): pass validity may be judged wrongly; check time synchronisation")
CLOCK_IMPLAUSIBLE = (Severity.URGENT, "闸机时钟明显错误（{now}）：通行证会被误判为过期或未生效",
                     "the gate's clock is clearly wrong ({now}): passes will look expired or not yet valid")
CAMERA_DOWN = (Severity.URGENT, "{reader} 摄像头故障，该通道无法识别：{error}",
               "the camera of {reader} is down, the reader cannot see: {error}")
STALE_ACTIONS: dict[str, tuple[str, str]] = {
    "alert": ("照常判定，请检查与平台的连接", "deciding as before; check the platform link"),
    "guard": ("凭证与人脸放行暂停，由门岗核实", "passes and faces no longer open the door; the guard decides"),
}


def reason(rule: Rule, extra: tuple[str, str] | None = None) -> tuple[str, str]:
    """The zh and en texts of a rule, with an optional clause added to each."""
    zh, en = REASONS[rule]
    if extra is not None:
        zh, en = f"{zh}（{extra[0]}）", f"{en} ({extra[1]})"
    return zh, en


def alert(kind: AlertKind, who: str | None) -> AlertSpec:
    """An alert of a known kind about `who` (a person id, or None)."""
    severity, zh, en = ALERTS[kind]
    suffix = f": {who}" if who else ""
    return AlertSpec(kind, severity, f"{zh}{'：' + who if who else ''}", f"{en}{suffix}")


# What the rules and alert kinds mean for people who read the API (docs/mqtt.md is generated
# from here: `gridgate docs`). REASONS and ALERTS say most; these say the rest, whose texts
# are made where they happen (overrides, the door, the platform link, the panel), and come
# first where a rule has both (rules.stale: REASONS has what the person at the gate reads).
RULE_MEANINGS: dict[Rule, tuple[str, str]] = {
    Rule.RULES_STALE: ("信任列表或通行规则超过最长有效期，本应放行的通行改由门岗核实", "the trust list or policy in "
                       "force is older than its maximum age: what would be granted waits for the guard"),
    Rule.OVERRIDE_OPEN_ONCE: ("门岗或平台签名指令人工放行一次", "a guard or a signed platform command "
                              "opened the door once"),
    Rule.OVERRIDE_REFUSED: ("人工放行未执行：门处于封锁状态或无继电器", "such an opening was not carried "
                            "out: the door is in lockdown or has no relay"),
}

ALERT_MEANINGS: dict[AlertKind, tuple[Severity, str, str]] = {
    AlertKind.QUOTA_CONFLICT: (Severity.URGENT, "多个门岗同时放行，黄码户外出超过限额", "gates let a yellow household out "
                               "more often than its quota (a partition, or exits at the same moment)"),
    AlertKind.OVERRIDE: (Severity.INFO, "人工放行、封锁或常开（门岗或平台指令）", "a door opened once, locked down or "
                         "held open by a guard or a platform command"),
    AlertKind.DOOR_FORCED: (Severity.URGENT, "门被强行打开", "door forced open"),
    AlertKind.DOOR_HELD_OPEN: (Severity.WARNING, "门长时间未关", "door held open"),
    AlertKind.CONFIG_CHANGED: (Severity.INFO, "闸机配置被修改（重启后生效）", "the gate configuration was changed in the "
                               "panel (in force after a restart)"),
    AlertKind.LOGIN_GUESSING: (Severity.WARNING, "面板账号正被猜测密码，相关地址已锁定", "a panel account's password is being "
                               "guessed; the addresses are locked out"),
    AlertKind.DISK_FULL: (Severity.URGENT, "闸机存储已满，已释放备用空间", "the gate's storage is full; the disk reserve "
                          "was freed"),
    AlertKind.FORGED_DOCUMENT: (Severity.URGENT, "平台数据签名校验失败", "platform data failed the signature check"),
    AlertKind.FORGED_COMMAND: (Severity.URGENT, "远程指令签名校验失败或被重放", "a door command failed the signature check "
                               "or was replayed"),
    AlertKind.FORGED_PEER: (Severity.URGENT, "其他门岗的消息签名校验失败", "another gate's message failed the signature "
                            "or key check"),
    AlertKind.ROSTER_REFUSED: (Severity.URGENT, "签名有效但无法使用的名册", "a well-signed roster the gate cannot use"),
    AlertKind.PERMITS_REFUSED: (Severity.URGENT, "签名有效但无法使用的出入证数据", "well-signed permits the gate cannot use"),
    AlertKind.TRUST_REFUSED: (Severity.URGENT, "签名有效但无法使用的信任列表", "a well-signed trust list the gate cannot "
                              "use (it would lock the platform out)"),
    AlertKind.REVOCATIONS_REFUSED: (Severity.URGENT, "签名有效但无法使用的作废列表", "a well-signed revocation list the "
                                    "gate cannot use"),
    AlertKind.POLICY_REFUSED: (Severity.URGENT, "签名有效但无法使用的规则", "a well-signed policy the gate cannot use"),
    AlertKind.OUTBOX_FULL: (Severity.WARNING, "待发送队列已满，日常门事件被丢弃", "the outbox bound was reached: routine "
                            "door events were dropped, or passages and alerts went past it"),
    AlertKind.EVENT_TRUNCATED: (Severity.WARNING, "事件过大，只发送了摘要", "an event sent without its data (too large)"),
    AlertKind.EVENT_UNDELIVERABLE: (Severity.URGENT, "事件被服务器拒收，已移入待查表", "an event the broker refused, moved "
                                    "to outbox_dead"),
    AlertKind.WEBHOOK_FAILED: (Severity.WARNING, "告警推送失败", "a webhook refused an alert for good"),
    AlertKind.PROBING: (Severity.URGENT, "同一读卡点反复被拒（伪造/无法识别的通行证、同一通行证、陌生人脸），合并为一条并计数",
                        "repeated refusals at one reader (forged or unreadable passes, one pass, "
                        "unknown faces), folded into one alert with a count"),
    AlertKind.OVERRIDE_APPROVAL: (Severity.WARNING, "红码人员的人工放行等待第二个账号批准", "a guard's opening for a "
                                  "red-permit holder waits for a second account's approval"),
    AlertKind.TRUST_STALE: (Severity.URGENT, "信任列表超过最长有效期未更新", "the trust list in force is older "
                            "than its maximum age"),
    AlertKind.POLICY_STALE: (Severity.URGENT, "通行规则超过最长有效期未更新", "the policy in force is older than "
                             "its maximum age"),
    AlertKind.CLOCK_UNSYNCED: (Severity.WARNING, "闸机时钟未同步或不可信", "the gate's clock is not synchronised "
                               "or implausible"),
    AlertKind.CAMERA_DOWN: (Severity.URGENT, "摄像头故障，该通道无法识别", "a reader's camera stopped delivering "
                            "frames"),
}


def rule_meaning(rule: Rule) -> tuple[str, str]:
    """What a rule id means, in Chinese and English (KeyError: a rule nobody described)."""
    return RULE_MEANINGS[rule] if rule in RULE_MEANINGS else REASONS[rule]


def alert_meaning(kind: AlertKind) -> tuple[Severity, str, str]:
    """An alert kind's severity and meaning in Chinese and English (KeyError: undescribed)."""
    return ALERTS[kind] if kind in ALERTS else ALERT_MEANINGS[kind]


def probing_alert(pattern: str, **fields: object) -> AlertSpec:
    """The `probing` alert of one pattern ("passes", "pass" or "faces")."""
    severity, zh, en = PROBING[pattern]
    return AlertSpec(AlertKind.PROBING, severity, zh.format(**fields), en.format(**fields))
