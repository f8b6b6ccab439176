"""The spoken prompts: short sentences made into WAV files with espeak-ng at install time.

`python -m edge.display.prompts --out DIR` (what install.sh and `make setup` run) and
`gridgate display prompts` write one file per prompt and language, `<key>.<lang>.wav`, and
rewrite a file only when its sound changed, so installing twice changes nothing. Standard
library only: install.sh runs it before anything else of gridgate may work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

# key -> (Mandarin, English). Short: the next person is already at the door.
PROMPTS: dict[str, tuple[str, str]] = {
    "granted": ("请通行", "Please go ahead."),
    "denied": ("禁止通行", "Access denied."),
    "lockdown": ("门禁已封锁，请联系门岗", "The gate is locked down. Please see the guard."),
    "quota": ("本户外出次数已用完", "Your household's exits are used up."),
    "red_exit": ("居家观察期间，禁止外出", "Home observation. You may not leave."),
    "face": ("请正对摄像头", "Please look at the camera."),
    "unreadable": ("无法识别，请重新出示通行码", "Please show your pass again."),
    "see_guard": ("请联系门岗", "Please see the guard."),
    "wait": ("请稍候", "Please wait."),
}
LANGUAGES = ("zh", "en")
# Debian's espeak-ng reads Chinese characters through pinyin: this voice speaks that pinyin as
# Mandarin (the plain "cmn" voice would read its tone digits in English).
VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}
SPEED = 150  # words per minute: clear for older residents, short for the queue


class PromptError(Exception):
    """The prompts cannot be made (no espeak-ng, an unwritable folder)."""


def file_name(key: str, language: str) -> str:
    """The file of one prompt in one language."""
    return f"{key}.{language}.wav"


def default_dir() -> Path:
    """Where install writes the prompts: <prefix>/share/gridgate/prompts of this Python."""
    return Path(sys.prefix) / "share" / "gridgate" / "prompts"


def _speak(espeak: str, language: str, text: str, out: Path) -> None:
    try:
        subprocess.run([espeak, "-v", VOICES[language], "-s", str(SPEED), "-w", str(out), text],
                       check=True, capture_output=True, timeout=60)
        with wave.open(str(out), "rb") as sound:
            if sound.getnframes() == 0:
                raise PromptError(f"espeak-ng made an empty sound for {text!r}")
    except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
        raise PromptError(f"espeak-ng could not speak {text!r} ({language}): {exc}") from exc


def make_prompts(out: Path, *, espeak: str | None = None,
                 languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    """Write every prompt in `languages` into `out`; the files written (unchanged ones are not)."""
    exe = espeak or shutil.which("espeak-ng")
    if exe is None:
        raise PromptError("espeak-ng is not installed: apt-get install espeak-ng (Debian), then "
                          "run `gridgate display prompts` again")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PromptError(f"cannot create {out}: {exc}") from exc
    written = []
    with tempfile.TemporaryDirectory(prefix="gridgate-prompts-") as tmp:
        for key, texts in PROMPTS.items():
            for language in languages:
                made = Path(tmp) / file_name(key, language)
                _speak(exe, language, texts[LANGUAGES.index(language)], made)
                target = out / file_name(key, language)
                if target.exists() and target.read_bytes() == made.read_bytes():
                    continue
                try:
                    shutil.copyfile(made, target.with_suffix(".part"))
                    os.chmod(target.with_suffix(".part"), 0o644)
                    os.replace(target.with_suffix(".part"), target)
                except OSError as exc:
                    raise PromptError(f"cannot write {target}: {exc}") from exc
                written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the prompts; print how many files changed (install.sh counts it as a change)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=default_dir(), help="folder to write into")
    args = parser.parse_args(argv)
    try:
        written = make_prompts(args.out)
    except PromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(len(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
