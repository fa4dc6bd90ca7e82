"""Folding the quoted history of a reply: the customer's new words apart from the mail
they answer, which mail clients quote below (or around) them."""

from __future__ import annotations

import re

# A line that introduces the quoted mail, in the forms common clients write.
ATTRIBUTION = (
    re.compile(r"^\s*On\b.*\bwrote:\s*$", re.IGNORECASE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^.*(写道|寫道)\s*[：:]\s*$"),  # Gmail, Foxmail in Chinese: 在 … 写道：
    re.compile(r"^\s*-{2,}\s*(原始邮件|原始郵件|Original Message|回复的原邮件)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above the quoted header block
)
# Outlook's quoted header block: "From:"/"发件人:" with "Sent:"/"发送时间:" soon after.
HEADER_FROM = re.compile(r"^\s*\*?(From|发件人|寄件者)\s*\*?\s*[：:]", re.IGNORECASE)
HEADER_SENT = re.compile(r"^\s*\*?(Sent|Date|发送时间|日期|寄件日期)\s*\*?\s*[：:]", re.I)
# "On Mon, 7 Dec 2026 at 10:00, Name <a@b.cn>" wrapped before "wrote:".
WRAPPED_ON = re.compile(r"^\s*On\b", re.IGNORECASE)
WRAPPED_WROTE = re.compile(r"^.*\bwrote:\s*$", re.IGNORECASE)


def _history_starts(lines: list[str]) -> int | None:
    """The index of the first line of quoted history, if the text has one."""
    for i, line in enumerate(lines):
        if any(p.match(line) for p in ATTRIBUTION):
            return i
        if WRAPPED_ON.match(line) and i + 1 < len(lines) and WRAPPED_WROTE.match(lines[i + 1]):
            return i
        if HEADER_FROM.match(line) and any(HEADER_SENT.match(n) for n in lines[i + 1 : i + 5]):
            return i
    return None


def fold_quotes(text: str) -> tuple[str, str]:
    """``(new text, quoted history)`` of a plain-text mail body. The history starts at an
    attribution line ("On … wrote:", "在 … 写道：", "-----原始邮件-----", Outlook's
    From/Sent block); without one, ``>`` lines are the history and the lines between
    them (answers written inline) stay new text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _history_starts(lines)
    if start is not None:
        new, history = lines[:start], lines[start:]
    else:
        new = [line for line in lines if not line.lstrip().startswith(">")]
        history = [line for line in lines if line.lstrip().startswith(">")]
    fresh = "\n".join(new).strip()
    if not fresh:  # a mail that is all quote (a forward without a word): keep it all
        return text.strip(), ""
    return fresh, "\n".join(history).strip()
