#!/usr/bin/env python3
"""Check a ballot record of the Shifeng livelihood-fund votes on your own machine.

    python3 verify_record.py RECORD.csv            (or RECORD.json, RECORD.xlsx)
    python3 verify_record.py RECORD.csv --head 3f5a…   (the chain head shown on the results page)
    python3 verify_record.py RECORD.csv --checkpoint 1234:9c0e…   (a head you copied earlier)

This file is the whole verifier: one Python 3 file, standard library only, nothing to install.
Download the record (CSV, JSON or XLSX) and this file from the cycle's downloads page.

What it checks:

1. Every row of the record, in order: its `seq` is 1, 2, 3, … with no gap, repeat or swap, and
   its chain hash follows from the row and the hash before it (the hash chain below). A changed,
   deleted, inserted, duplicated or reordered row breaks this at the first bad row, which is named
   with its row number (and line number in a CSV file).
2. Each voter's versions follow each other (1, 2, 3 …) and exactly the last one of each voter is
   marked as not superseded.
3. Every ballot was cast within the voting window the record's header gives (voting_opens_at
   inclusive to voting_closes_at exclusive). A ballot outside it is refused naming its row,
   whether it counts or was superseded: no ballot of the record can be cast outside the window.
4. The last hash equals the chain head the record names (and the head you give with --head: the
   one published on the results page), and the record has as many rows as that chain.
5. Each checkpoint you give with --checkpoint SEQ:HASH (repeat it for several) is extended: the
   row with that seq has that chain hash. While voting is open the running head (seq and hash) is
   public on the cycle's list of receipts, and your receipt check shows your own ballot's; copy
   one, and this check shows that the record you download later still holds every ballot up to
   it, unchanged. A checkpoint beyond the record's last row fails too.
6. The current ballots (each voter's last version) are counted again with the cycle's rule, and
   the funded projects must be the published ones, in the same order.

Messages are in Chinese when the locale is Chinese (LC_ALL, LC_MESSAGES or LANG beginning with
zh), else in English; `--lang zh` or `--lang en` chooses.

Exit status: 0 when everything holds; 1 when something does not (the message names the first bad
row, the checkpoint, or what differs); 2 when the file cannot be read as a record at all, or an
option (a checkpoint) is malformed.

**The hash chain** (as the service builds it, voting/ballots/chain.py):

    chain_hash[0]   = sha256_hex("voting:cycle:<cycle id>")
    chain_hash[seq] = sha256_hex(chain_hash[seq - 1] + "\\n" + canonical_row(seq))

    canonical_row = "v2|seq|voter_code|version|choices|cast_at|receipt"

with choices as "project id:points" ascending by id and joined by ",", and cast_at in UTC as
2026-11-28T08:30:05.000123Z. Being superseded is not hashed: it follows from the rows (a voter's
highest version is the current ballot). This is record format voting-record/2: a row names no
channel and no worker (the voter roll holds how each resident voted, so the two share nothing).

**The count** is exact (whole fen and fractions, never floating point). Scores: the number of
ballots naming a project, or the points given to it in cumulative voting. Projects are ranked by
higher score, then lower cost, then their order in the record's project list (ascending id).

- greedy: fund projects in ranking order while they fit in what is left; skip those that do not.
- greedy-no-skip: the same, but stop at the first project that does not fit.
- greedy-threshold: greedy over the projects whose score reaches the threshold, or, when the
  header gives threshold_percent instead, over the projects named on at least that percentage of
  the current ballots.
- mes: the Method of Equal Shares with cost utilities and add-one completion. Each of the n voters
  holds fund/n. Round after round, among the projects whose supporters still hold at least the
  cost together, fund the one where the largest payment t asked of a supporter (each pays
  min(own money, t), t chosen so that the payments add up to the cost) is the smallest relative
  to the cost (ties: the better ranked project). Stop when no project is affordable. Add-one
  completion: run this with each voter holding fund/n, then fund/n + 1 yuan, + 2 yuan, …; keep the
  first run whose projects leave no room for any other project, or the run before the first that
  overspends the fund.
- mes+greedy: mes, then greedy with what is left over the projects mes did not fund.

Projects nobody voted for (score 0) are never funded, by any rule (header `unvoted_projects`:
`never_funded`); a record of a result counted before that rule says `fundable`, and a record
without the key is counted the old way too. With `min_turnout_percent` in the header, a final
record also gives `eligible` (the electorate): when fewer than that percentage of it voted, the
count funds nothing.

CSV cells that a spreadsheet would take for a formula (beginning with = + - @, a tab or a carriage
return) are written with a leading apostrophe, and so is a cell that begins with an apostrophe;
this verifier removes that one apostrophe before checking.
"""
from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import json
import os
import re
import sys
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Optional
from xml.etree import ElementTree

RECORD_FORMAT = "voting-record/2"
BALLOT_COLUMNS = ("seq", "voter_code", "version", "choices", "cast_at", "receipt", "superseded", "chain_hash")
PROJECT_COLUMNS = ("project_id", "cost", "title", "category")
RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")
METHODS = ("approval", "knapsack", "cumulative", "choose_one")
FINAL, SO_FAR = "final", "so far"
FEN_PER_YUAN = 100
MES_STEP_FEN = 100  # add-one completion raises each voter's money by one yuan a step
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")

EXIT_OK, EXIT_BAD, EXIT_UNREADABLE = 0, 1, 2


# --- the verifier's language ---------------------------------------------------------------------
# Its messages in English and Chinese, here in the file (it runs without the service's catalogues):
# `--lang zh|en`, by default Chinese when LC_ALL, LC_MESSAGES or LANG (the first one set) names a
# Chinese locale. A message not listed here is given in English.

LANGUAGES = ("zh", "en")
_language = "en"

ZH = {
    "cannot verify: {error}": "无法验证：{error}",
    "NOT VERIFIED: {error}": "未通过验证：{error}",
    "record: cycle {cycle}, {name} ({code}), {year}; fund {fund} yuan; {method} ballots; rule {rule}":
        "记录：第 {cycle} 轮，{name}（{code}），{year} 年；资金 {fund} 元；{method} 选票；计票规则 {rule}",
    "rows: {rows} ballots recorded (seq 1–{rows}): {current} current, {superseded} superseded":
        "选票：共记录 {rows} 张（序号 1–{rows}）：{current} 张有效，{superseded} 张已被本人后来的选票取代",
    "window: every ballot cast within the voting window ({opens} to {closes})":
        "投票时间：每张选票都在投票时间内投出（{opens} 至 {closes}）",
    "unbounded": "不限",
    "chain: intact, head {head}": "哈希链：完整，链头 {head}",
    "checkpoint {seq}:{hash}: extended": "检查点 {seq}:{hash}：记录包含它，未被改写",
    "SO FAR: this record was exported while voting was still open. It is not the result;":
        "截至目前：这份记录是在投票仍在进行时导出的，它不是结果；",
    "        the chain is intact up to its last row.": "        哈希链直到最后一行都完整。",
    "OK: the record so far is intact. Keep its head as a checkpoint: --checkpoint {seq}:{hash}":
        "通过：截至目前的记录完整。请保存它的链头作为检查点：--checkpoint {seq}:{hash}",
    "OK: the record so far is intact.": "通过：截至目前的记录完整。",
    "{ballots} ballots; funded {funded} (cost {cost} of {fund} yuan)":
        "{ballots} 张选票；资助项目 {funded}（花费 {cost} 元，资金共 {fund} 元）",
    "{ballots} ballots; funded {funded}": "{ballots} 张选票；资助项目 {funded}",
    "nothing": "无",
    "recount ({rule}): {counted}: the published result": "重新计票（{rule}）：{counted}：与公布的结果一致",
    "OK: the record is intact and the published result is its count.": "通过：记录完整，公布的结果正是它的计票结果。",
    "Check that the results page shows the same chain head: {head}": "请核对结果页面上显示的链头与此相同：{head}",
    "the recount does not give the published result: counted {counted}, published {published}":
        "重新计票得不到公布的结果：计得 {counted}，公布的是 {published}",
    "{where}: the chain hash does not follow from this row and the one before it: this row was changed "
    "(or a row before it was replaced)":
        "{where}：链哈希与本行及上一行对不上：这一行被改动过（或它前面的一行被替换过）",
    "{where}: seq {seq} again, where {number} was expected: this row is a duplicate or out of order":
        "{where}：序号 {seq} 重复出现，这里应是 {number}：这一行是重复的，或顺序被打乱",
    "{where}: seq {seq} where {number} was expected: a row is missing before it, or rows were reordered":
        "{where}：序号是 {seq}，这里应是 {number}：它前面少了一行，或行的顺序被打乱",
    "{where}: seq {seq} is beyond the chain the record names, which ends at seq {last}: a row was added":
        "{where}：序号 {seq} 超出了记录所写的哈希链（链止于序号 {last}）：有一行是后加的",
    "{where}: the record does not extend {checkpoint}: its chain hash at seq {seq} is {digest}, not {hash}; "
    "the record was rewritten since that head was copied (or the checkpoint was copied wrong)":
        "{where}：记录不包含{checkpoint}：序号 {seq} 处的链哈希是 {digest}，不是 {hash}；"
        "自从抄下那个链头以来，记录被改写过（或检查点抄错了）",
    "{where}: {what} cast at {cast_at}, {bound}: no ballot of the record may be cast outside the voting window":
        "{where}：{what}投于 {cast_at}，{bound}：记录中的任何选票都不能在投票时间之外投出",
    "a superseded ballot": "一张已被取代的选票", "a counted ballot": "一张计票的选票",
    "before voting opened ({at})": "早于投票开始（{at}）", "at or after voting closed ({at})": "在投票结束时或之后（{at}）",
    "{where}: chooses project {project}, which is not in the record's project list":
        "{where}：选了项目 {project}，但它不在记录的项目清单里",
    "{where}: version {version} of this voter follows no earlier version":
        "{where}：这位投票人的第 {version} 版之前没有更早的版本",
    "{where}: version {version} of this voter follows version {before}":
        "{where}：这位投票人的第 {version} 版紧跟在第 {before} 版之后",
    "{where}: marked as the voter's current ballot, but {later} is a later version":
        "{where}：标为投票人的有效选票，但{later}是更晚的版本",
    "{where}: marked as superseded, but no later ballot of the same voter follows":
        "{where}：标为已被取代，但后面没有同一投票人更晚的选票",
    "the record ends after row {rows}, but the chain it names has {seq} ballots: row {next} and later are "
    "missing (truncated or deleted)":
        "记录在第 {rows} 张选票后结束，但它所写的哈希链有 {seq} 张选票：第 {next} 张及以后的选票缺失（被截断或删除）",
    "row {rows}: the last chain hash {hash} is not the chain head the record names ({head})":
        "第 {rows} 张选票：最后的链哈希 {hash} 不是记录所写的链头（{head}）",
    "row {rows}: the last chain hash {hash} is not the head you gave ({head})":
        "第 {rows} 张选票：最后的链哈希 {hash} 不是您给出的链头（{head}）",
    "the record does not extend {checkpoint}: it ends at seq {rows}, before the checkpoint's seq {seq}; "
    "ballots recorded up to that checkpoint are missing":
        "记录不包含{checkpoint}：它止于序号 {rows}，在检查点的序号 {seq} 之前；到那个检查点为止记录的选票有缺失",
    "checkpoint {seq}:{hash}…": "检查点 {seq}:{hash}…",
    "a checkpoint is SEQ:HASH (the ballot number, a colon, its chain hash), not {text}":
        "检查点的写法是 序号:哈希（选票序号、冒号、它的链哈希），不是 {text}",
    "a checkpoint's seq must be a whole number of 1 or more, not {text}": "检查点的序号必须是 1 或更大的整数，不是 {text}",
    "a checkpoint's hash must be 64 hexadecimal digits, not {text}": "检查点的哈希必须是 64 位十六进制数字，不是 {text}",
    "the file ends after row {rows} without its END row: it is truncated":
        "文件在第 {rows} 张选票后结束，没有 END 行：文件被截断了",
    "{where}: the record says it has {said} rows, but {rows} were read":
        "{where}：记录写明有 {said} 行，但读到的是 {rows} 行",
    "cannot read {path}: {reason}": "无法读取 {path}：{reason}",
    "{path} is not a ballot record: it must begin with a RECORD line": "{path} 不是选票记录：它必须以 RECORD 行开头",
    "{path}: give a record ending in .csv, .json or .xlsx": "{path}：请给出以 .csv、.json 或 .xlsx 结尾的记录文件",
    "{path} is not UTF-8 text after line {line}": "{path} 在第 {line} 行之后不是 UTF-8 文本",
    "line {line}: not a well-formed CSV row ({error})": "文件第 {line} 行：不是格式正确的 CSV 行（{error}）",
    "Verify a ballot record: hash chain, voting window, checkpoints and recount.":
        "验证选票记录：哈希链、投票时间、检查点和重新计票。",
    "the record: .csv, .json or .xlsx": "记录文件：.csv、.json 或 .xlsx",
    "the chain head published on the results page (64 hex digits)": "结果页面上公布的链头（64 位十六进制数字）",
    "a chain head copied earlier (from the list of receipts, or your receipt check) that the record must "
    "extend; repeat for several":
        "之前抄下的链头（来自回执清单或您的回执查询），记录必须包含它；可重复给出多个",
    "the language of the messages (default: from LC_ALL, LC_MESSAGES or LANG)":
        "提示信息的语言（默认按 LC_ALL、LC_MESSAGES 或 LANG）",
}
_PLACES = (  # where a message points, as `BallotRow.where` and the readers write it
    (re.compile(r"row (\d+) \(line (\d+)\)"), "第 {0} 张选票（文件第 {1} 行）"),
    (re.compile(r"row (\d+) \(sheet ballots, row (\d+)\)"), "第 {0} 张选票（ballots 工作表第 {1} 行）"),
    (re.compile(r"row (\d+)"), "第 {0} 张选票"),
    (re.compile(r"line (\d+)"), "文件第 {0} 行"),
)


def default_language(environ=None) -> str:
    """"zh" when the locale the environment names (LC_ALL, then LC_MESSAGES, then LANG) is Chinese."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def _t(message: str, **values) -> str:
    """`message` in the verifier's language, with `values` put in (a `where` in words of that language)."""
    if _language == "zh":
        message = ZH.get(message, message)
        for key in ("where", "later"):
            if key in values:
                values[key] = _place(values[key])
    return message.format(**values) if values else message


def _place(where: str) -> str:
    for pattern, words in _PLACES:
        found = pattern.fullmatch(where)
        if found:
            return words.format(*found.groups())
    return where


# --- the hash chain: copied unchanged from voting/ballots/chain.py (a test keeps them equal) -------

FORMAT = "v2"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(cycle_id: int) -> str:
    """The hash the chain of a cycle starts from (before its first ballot)."""
    return sha256_hex(f"voting:cycle:{cycle_id}")


def format_cast_at(cast_at: datetime) -> str:
    """A naive UTC time as ISO 8601 with microseconds and Z (always six digits)."""
    if cast_at.tzinfo is not None:
        raise ValueError("cast_at must be a naive UTC datetime")
    return cast_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_choices(choices: Iterable[tuple[int, int]]) -> str:
    """(project id, points) pairs as "id:points,…" ascending by project id."""
    return ",".join(f"{int(project_id)}:{int(points)}" for project_id, points in sorted(choices))


def canonical_row(*, seq: int, voter_code: str, version: int, choices: Iterable[tuple[int, int]],
                  cast_at: datetime, receipt: str) -> str:
    """The text of one recorded ballot that the chain hashes (see the module docstring)."""
    fields = (FORMAT, str(int(seq)), voter_code, str(int(version)), format_choices(choices),
              format_cast_at(cast_at), receipt)
    return "|".join(fields)


def next_hash(previous_hash: str, row: str) -> str:
    """The chain's hash after `row`, given the hash before it."""
    return sha256_hex(previous_hash + "\n" + row)


# --- what a record holds -----------------------------------------------------------------------


class Unreadable(Exception):
    """The file cannot be read as a record at all (exit 2)."""


class Broken(Exception):
    """The record does not verify (exit 1): the message names the first bad row or what differs."""


@dataclass
class Header:
    cycle: int
    community: str
    community_name: str
    year: int
    fund: int  # fen
    method: str
    threshold: Optional[int]
    outcome_rule: str
    voting_opens_at: Optional[datetime]  # UTC; None: the cycle set no such bound
    voting_closes_at: Optional[datetime]
    status: str  # "final" or "so far"
    chain_seq: int
    chain_head: str
    ballots_counted: Optional[int] = None
    selected: Optional[list] = None
    exported_at: str = ""
    threshold_percent: Optional[int] = None
    min_turnout_percent: Optional[int] = None
    eligible: Optional[int] = None  # the electorate, in a final record
    fund_unvoted: bool = True  # a result counted before projects without votes were never funded


@dataclass
class ProjectRow:
    id: int
    cost: int  # fen
    title: str


@dataclass
class BallotRow:
    where: str  # "row 12 (line 40)", for messages
    seq: int
    voter_code: str
    version: int
    choices: list  # [(project id, points)], as in the file
    cast_at: datetime
    receipt: str
    superseded: bool
    chain_hash: str


@dataclass
class Record:
    kind: str  # csv, json or xlsx
    header: Header
    projects: list
    rows: Iterator  # of BallotRow, read as they are checked
    trailer: dict = field(default_factory=dict)  # filled once the rows are read: {"rows": n} when present
    close: Callable = lambda: None  # releases the file
    # A CSV record: (the csv reader, its non-empty un-guarded lines, the path), for `check_rows`'s lean
    # loop over the ballot rows; `rows` reads the same reader
    csv: Optional[tuple] = None


# --- reading cells and values ------------------------------------------------------------------


def plain_cell(text: str) -> str:
    """Undo the spreadsheet-formula guard: a leading apostrophe the export added."""
    return text[1:] if text.startswith("'") else text


def _int(value, what: str, where: str) -> int:
    if isinstance(value, bool):
        raise Broken(f"{where}: {what} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # a spreadsheet that stored 12 as 12.0
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):
        return int(text.split(".")[0])
    raise Broken(f"{where}: {what} must be a whole number, not {_shown(value)}")


def _optional_int(value, what: str, where: str) -> Optional[int]:
    return None if value is None or str(value).strip() == "" else _int(value, what, where)


def _fen(value, what: str, where: str) -> int:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Broken(f"{where}: {what} must be an amount of yuan, not {_shown(value)}") from None
    fen = amount * FEN_PER_YUAN
    if not amount.is_finite() or fen != fen.to_integral_value() or fen < 0:
        raise Broken(f"{where}: {what} must be an amount of yuan with at most two decimals, not {_shown(value)}")
    return int(fen)


def _bool(value, what: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise Broken(f"{where}: {what} must be true or false, not {_shown(value)}")


def _choices(value, where: str) -> list:
    """Choices as "id:points,id:points" (CSV, XLSX) or [[id, points], …] (JSON)."""
    if isinstance(value, list):
        pairs = value
    else:
        text = str(value).strip()
        pairs = [item.split(":") for item in text.split(",")] if text else []
    chosen = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise Broken(f"{where}: choices must be project:points pairs, not {_shown(value)}")
        chosen.append((_int(pair[0], "a chosen project id", where), _int(pair[1], "points", where)))
    if len({project for project, _ in chosen}) != len(chosen):
        raise Broken(f"{where}: the choices name a project twice: {_shown(value)}")
    return chosen


def _time(value, where: str) -> datetime:
    text = str(value).strip()
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise Broken(f"{where}: cast_at must be a UTC time like 2026-11-28T08:30:05.000123Z, "
                     f"not {_shown(value)}") from None


def _window_time(value, what: str, where: str) -> Optional[datetime]:
    """A bound of the voting window: a UTC time like 2026-11-28T08:30:05.000123Z (or without the
    fraction); empty or null when the cycle set no such bound."""
    text = _text(value).strip()
    if not text:
        return None
    for layout in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            pass
    raise Broken(f"{where}: {what} must be a UTC time like 2026-11-28T08:30:05.000000Z, not {_shown(value)}")


def _text(value) -> str:
    return "" if value is None else str(value)


def _shown(value) -> str:
    text = repr(value) if not isinstance(value, str) else "'" + value + "'"
    return text if len(text) <= 60 else text[:57] + "…'"


def ballot_row(where: str, cells: dict) -> BallotRow:
    """One ballot row from its cells (strings, or JSON values).

    :raises Broken: naming the row when a value cannot be what its column holds.
    """
    chain_hash = _text(cells["chain_hash"]).strip()
    if not re.fullmatch(r"[0-9a-f]{64}", chain_hash):
        raise Broken(f"{where}: chain_hash must be 64 lowercase hexadecimal digits, not {_shown(chain_hash)}")
    return BallotRow(
        where=where,
        seq=_int(cells["seq"], "seq", where),
        voter_code=_text(cells["voter_code"]),
        version=_int(cells["version"], "version", where),
        choices=_choices(cells["choices"], where),
        cast_at=_time(cells["cast_at"], where),
        receipt=_text(cells["receipt"]),
        superseded=_bool(cells["superseded"], "superseded", where),
        chain_hash=chain_hash,
    )


def record_header(values: dict, where: str) -> Header:
    """The record's header from its key/value pairs.

    :raises Broken: when a key is missing or a value is not what it should be.
    """
    missing = [key for key in ("format", "status", "cycle", "community", "year", "fund", "method",
                               "outcome_rule", "voting_opens_at", "voting_closes_at", "chain_seq", "chain_head")
               if key not in values]
    if missing:
        raise Broken(f"{where}: the record's header has no {', '.join(missing)}")
    if _text(values["format"]) != RECORD_FORMAT:
        raise Broken(f"{where}: this verifier reads {RECORD_FORMAT} records, not {_shown(values['format'])}")
    status = _text(values["status"])
    if status not in (FINAL, SO_FAR):
        raise Broken(f"{where}: status must be '{FINAL}' or '{SO_FAR}', not {_shown(status)}")
    rule, method = _text(values["outcome_rule"]), _text(values["method"])
    if rule not in RULES:
        raise Broken(f"{where}: unknown outcome_rule {_shown(rule)}")
    if method not in METHODS:
        raise Broken(f"{where}: unknown method {_shown(method)}")
    header = Header(
        cycle=_int(values["cycle"], "cycle", where),
        community=_text(values["community"]),
        community_name=_text(values.get("community_name")),
        year=_int(values["year"], "year", where),
        fund=_fen(values["fund"], "fund", where),
        method=method,
        threshold=_optional_int(values.get("threshold"), "threshold", where),
        outcome_rule=rule,
        voting_opens_at=_window_time(values["voting_opens_at"], "voting_opens_at", where),
        voting_closes_at=_window_time(values["voting_closes_at"], "voting_closes_at", where),
        status=status,
        chain_seq=_int(values["chain_seq"], "chain_seq", where),
        chain_head=_text(values["chain_head"]).strip(),
        exported_at=_text(values.get("exported_at")),
        threshold_percent=_optional_int(values.get("threshold_percent"), "threshold_percent", where),
        min_turnout_percent=_optional_int(values.get("min_turnout_percent"), "min_turnout_percent", where),
        eligible=_optional_int(values.get("eligible"), "eligible", where),
        fund_unvoted=_unvoted(values.get("unvoted_projects"), where),
    )
    if header.threshold_percent is not None and not 0 < header.threshold_percent <= 100:
        raise Broken(f"{where}: threshold_percent must be between 1 and 100, not {header.threshold_percent}")
    if status == FINAL and header.min_turnout_percent is not None and header.eligible is None:
        raise Broken(f"{where}: a final record with min_turnout_percent must give eligible (the electorate)")
    if header.voting_opens_at and header.voting_closes_at and header.voting_opens_at >= header.voting_closes_at:
        raise Broken(f"{where}: the voting window closes ({_text(values['voting_closes_at'])}) "
                     f"before it opens ({_text(values['voting_opens_at'])})")
    if status == FINAL:
        if "ballots_counted" not in values or "selected" not in values:
            raise Broken(f"{where}: a final record must give ballots_counted and selected (the published result)")
        header.ballots_counted = _int(values["ballots_counted"], "ballots_counted", where)
        selected = values["selected"]
        if not isinstance(selected, list):
            selected = [item for item in _text(selected).replace(" ", "").split(",") if item]
        header.selected = [_int(item, "a selected project id", where) for item in selected]
    return header


def _unvoted(value, where: str) -> bool:
    """Whether projects without votes may be funded: `fundable` (or no key: an older record) or
    `never_funded`."""
    text = "fundable" if value is None else _text(value).strip()
    if text not in ("fundable", "never_funded"):
        raise Broken(f"{where}: unvoted_projects must be 'never_funded' or 'fundable', not {_shown(text)}")
    return text == "fundable"


def project_row(cells: dict, where: str) -> ProjectRow:
    return ProjectRow(id=_int(cells["project_id"], "project_id", where), cost=_fen(cells["cost"], "cost", where),
                      title=_text(cells.get("title")))


# --- CSV -----------------------------------------------------------------------------------------


def read_csv(path: str) -> Record:
    """A CSV record: sections RECORD (key,value), PROJECTS, BALLOTS and END (the row count).

    A UTF-8 byte-order mark, CRLF line ends, quotes around every cell and empty cells at the end
    of a row (as spreadsheets write them) are all read as meant.
    """
    try:
        stream = open(path, encoding="utf-8-sig", newline="")
    except OSError as error:
        raise Unreadable(_t("cannot read {path}: {reason}", path=path, reason=error.strerror or error)) from None
    try:
        reader = csv.reader(stream)
        lines = _csv_lines(reader, path)
        first = next(lines, None)
        if first is None or first[1][:1] != ["RECORD"]:
            raise Unreadable(_t("{path} is not a ballot record: it must begin with a RECORD line", path=path))
        header, projects = _csv_header(lines, first[0])
    except BaseException:
        stream.close()
        raise
    record = Record("csv", header, projects, iter(()), close=stream.close)
    record.rows = _csv_ballots(lines, record)
    record.csv = (reader, lines, path)
    return record


def _csv_header(lines, record_line: int) -> tuple:
    values = {}
    line, cells = next(lines, (record_line, []))
    if cells[:2] != ["key", "value"]:
        raise Broken(f"line {line}: the RECORD section must start with the row key,value")
    section_line = line
    for line, cells in lines:
        if cells[0] == "PROJECTS":
            break
        if len(cells) > 2:
            raise Broken(f"line {line}: a RECORD row has a key and a value, found {len(cells)} cells")
        values[cells[0]] = cells[1] if len(cells) == 2 else ""
    else:
        raise Broken(f"line {section_line}: the file ends inside its RECORD section: it is truncated")
    return record_header(values, f"line {section_line}"), _csv_projects(lines, line)



def _unreadable(error: Exception, reader, path) -> Exception:
    """What a CSV reader's failure at its current line means for the auditor."""
    if isinstance(error, UnicodeDecodeError):
        return Unreadable(_t("{path} is not UTF-8 text after line {line}", path=path, line=reader.line_num))
    return Broken(_t("line {line}: not a well-formed CSV row ({error})", line=reader.line_num, error=error))

def _csv_lines(reader, path: str) -> Iterator[tuple[int, list]]:
    """(line number, cells) of every non-empty row, cells un-guarded, trailing empty cells dropped."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            raise _unreadable(error, reader, path) from None
        cells = [plain_cell(cell) for cell in cells]
        while cells and cells[-1] == "":
            cells.pop()
        if cells:
            yield reader.line_num, cells


def _csv_projects(lines, section_line: int) -> list:
    line, cells = next(lines, (section_line, None))
    if cells is None:
        raise Broken(f"line {section_line}: the file ends after PROJECTS: it is truncated")
    if tuple(cells) != PROJECT_COLUMNS:
        raise Broken(f"line {line}: the PROJECTS columns must be {','.join(PROJECT_COLUMNS)}")
    projects = []
    for line, cells in lines:
        if cells[0] == "BALLOTS":
            return projects
        cells += [""] * (len(PROJECT_COLUMNS) - len(cells))
        projects.append(project_row(dict(zip(PROJECT_COLUMNS, cells)), f"line {line}"))
    raise Broken(f"line {section_line}: the file ends inside its PROJECTS section: it is truncated")


def _csv_ballots(lines, record: Record) -> Iterator[BallotRow]:
    _csv_ballot_columns(lines)
    number = 0
    for line, cells in lines:
        if cells[0] == "END":
            _csv_trailer(record, cells, line)
            return
        number += 1
        yield _csv_ballot_row(cells, number, line)


def _csv_ballot_columns(lines) -> None:
    """Read the BALLOTS section's column row."""
    line, cells = next(lines, (0, None))
    if cells is None:
        raise Broken("the file ends after BALLOTS: it is truncated")
    if tuple(cells) != BALLOT_COLUMNS:
        raise Broken(f"line {line}: the BALLOTS columns must be {','.join(BALLOT_COLUMNS)}")


def _csv_trailer(record: Record, cells: list, line: int) -> None:
    record.trailer = {"rows": _int(cells[1] if len(cells) > 1 else "", "the END row count", f"line {line}"),
                      "where": f"line {line}"}


def _csv_ballot_row(cells: list, number: int, line: int) -> BallotRow:
    """Ballot row `number` from its cells (un-guarded, trailing empty cells dropped) on `line`."""
    where = f"row {number} (line {line})"
    if len(cells) > len(BALLOT_COLUMNS):
        raise Broken(f"{where}: {len(cells)} cells, but a ballot row has {len(BALLOT_COLUMNS)}")
    cells += [""] * (len(BALLOT_COLUMNS) - len(cells))
    return ballot_row(where, dict(zip(BALLOT_COLUMNS, cells)))


# --- JSON ----------------------------------------------------------------------------------------


def read_json(path: str) -> Record:
    """A JSON record: {"format", "record": {…}, "projects": […], "ballots": […], "rows": n}."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise Unreadable(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Unreadable(f"{path} is not UTF-8 text, so not a JSON record") from None
    except json.JSONDecodeError as error:
        raise Broken(f"line {error.lineno}, column {error.colno}: not complete JSON ({error.msg}); "
                     "the file is damaged or truncated") from None
    if not isinstance(document, dict) or "record" not in document or "ballots" not in document:
        raise Unreadable(f"{path} is JSON but not a ballot record (no record and ballots)")
    values = document["record"]
    if not isinstance(values, dict) or not isinstance(document.get("projects"), list) \
            or not isinstance(document["ballots"], list):
        raise Broken("record must be an object, projects and ballots lists")
    header = record_header({"format": document.get("format"), **values}, "the record")
    projects = []
    for number, item in enumerate(document["projects"], start=1):
        if not isinstance(item, dict) or not {"id", "cost"} <= set(item):
            raise Broken(f"project {number}: needs an id and a cost")
        projects.append(project_row({"project_id": item["id"], "cost": item["cost"], "title": item.get("title")},
                                    f"project {number}"))
    record = Record("json", header, projects, iter(()))
    if "rows" in document:
        record.trailer = {"rows": _int(document["rows"], "rows", "the record"), "where": "the record's rows"}
    record.rows = _json_ballots(document["ballots"])
    return record


def _json_ballots(ballots: list) -> Iterator[BallotRow]:
    for number, item in enumerate(ballots, start=1):
        where = f"row {number}"
        if not isinstance(item, dict):
            raise Broken(f"{where}: a ballot must be an object")
        missing = [column for column in BALLOT_COLUMNS if column not in item]
        if missing:
            raise Broken(f"{where}: has no {', '.join(missing)}")
        yield ballot_row(where, item)


# --- XLSX (read with zipfile and ElementTree) ----------------------------------------------------

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def read_xlsx(path: str) -> Record:
    """An XLSX record: sheets "record" (key, value), "projects" and "ballots" (ending in END, n)."""
    try:
        book = zipfile.ZipFile(path)
        names = set(book.namelist())
    except (zipfile.BadZipFile, EOFError):
        raise Broken(f"{path} is not a complete XLSX file: it is damaged or truncated") from None
    except OSError as error:
        raise Unreadable(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return _xlsx_record(path, book, names)
    except BaseException:
        book.close()
        raise


def _xlsx_record(path: str, book, names: set) -> Record:
    try:
        sheets = _xlsx_sheets(book, names)
        strings = _xlsx_shared_strings(book, names)
        for name in ("record", "projects", "ballots"):
            if name not in sheets:
                raise Unreadable(f"{path} is a workbook but not a ballot record (no sheet '{name}')")
        values = {}
        for number, cells in _xlsx_rows(book, sheets["record"], strings):
            if number == 1:
                continue
            if cells:  # an empty value (nothing selected) is no cell at all: trailing empties are dropped
                values[cells[0]] = cells[1] if len(cells) >= 2 else ""
        header = record_header(values, "sheet record")
        projects = []
        for number, cells in _xlsx_rows(book, sheets["projects"], strings):
            if number == 1:
                if tuple(cells) != PROJECT_COLUMNS:
                    raise Broken(f"sheet projects, row 1: the columns must be {','.join(PROJECT_COLUMNS)}")
                continue
            cells += [""] * (len(PROJECT_COLUMNS) - len(cells))
            projects.append(project_row(dict(zip(PROJECT_COLUMNS, cells)), f"sheet projects, row {number}"))
    except (zipfile.BadZipFile, EOFError, ElementTree.ParseError, KeyError, OSError) as error:
        raise Broken(f"{path} is not a complete XLSX file ({error}): it is damaged or truncated") from None
    record = Record("xlsx", header, projects, iter(()), close=book.close)
    record.rows = _xlsx_ballots(book, sheets["ballots"], strings, record, path)
    return record


def _xlsx_ballots(book, sheet: str, strings: list, record: Record, path: str) -> Iterator[BallotRow]:
    number = 0
    try:
        for sheet_row, cells in _xlsx_rows(book, sheet, strings):
            if sheet_row == 1:
                if tuple(cells) != BALLOT_COLUMNS:
                    raise Broken(f"sheet ballots, row 1: the columns must be {','.join(BALLOT_COLUMNS)}")
                continue
            if cells and cells[0] == "END":
                record.trailer = {"rows": _int(cells[1] if len(cells) > 1 else "", "the END row count",
                                               f"sheet ballots, row {sheet_row}"),
                                  "where": f"sheet ballots, row {sheet_row}"}
                return
            number += 1
            where = f"row {number} (sheet ballots, row {sheet_row})"
            cells += [""] * (len(BALLOT_COLUMNS) - len(cells))
            yield ballot_row(where, dict(zip(BALLOT_COLUMNS, cells)))
    except (zipfile.BadZipFile, EOFError, ElementTree.ParseError, OSError) as error:
        raise Broken(f"after row {number}: {path} is not a complete XLSX file ({error}): "
                     "it is damaged or truncated") from None


def _xlsx_sheets(book, names: set) -> dict:
    """Sheet name -> the path of its XML part."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target") for rel in rels}
    sheets = {}
    for sheet in workbook.iter(_MAIN + "sheet"):
        target = targets.get(sheet.get(_REL + "id"), "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if target in names:
            sheets[sheet.get("name")] = target
    return sheets


def _xlsx_shared_strings(book, names: set) -> list:
    if "xl/sharedStrings.xml" not in names:
        return []
    strings = []
    for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(_MAIN + "si"):
        strings.append("".join(t.text or "" for t in item.iter(_MAIN + "t")))
    return strings


def _xlsx_rows(book, part: str, strings: list) -> Iterator[tuple[int, list]]:
    """(row number, cells as text) of a sheet, read as a stream; trailing empty cells dropped."""
    with book.open(part) as stream:
        for _event, element in ElementTree.iterparse(stream):
            if element.tag != _MAIN + "row":
                continue
            cells: dict = {}
            for cell in element.iter(_MAIN + "c"):
                cells[_column(cell.get("r"), len(cells))] = _cell_text(cell, strings)
            row = [cells.get(i, "") for i in range(max(cells) + 1)] if cells else []
            row = [plain_cell(cell) for cell in row]
            while row and row[-1] == "":
                row.pop()
            yield int(element.get("r") or 0), row
            element.clear()


def _column(reference: Optional[str], default: int) -> int:
    if not reference:
        return default
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - 64
    return index - 1


def _cell_text(cell, strings: list) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(_MAIN + "t"))
    value = cell.find(_MAIN + "v")
    text = value.text if value is not None and value.text is not None else ""
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return "true" if text == "1" else "false"
    if kind in (None, "n") and re.fullmatch(r"-?\d+\.0+", text):
        return text.split(".")[0]
    return text


def read_record(path: str) -> Record:
    """Read a record by its file name's ending (.csv, .json, .xlsx).

    :raises Unreadable: for a missing file or another kind of file.
    :raises Broken: for a record whose header cannot be read.
    """
    lower = path.lower()
    if lower.endswith(".csv"):
        return read_csv(path)
    if lower.endswith(".json"):
        return read_json(path)
    if lower.endswith(".xlsx"):
        return read_xlsx(path)
    if lower.endswith(".pb"):
        raise Unreadable(f"{path} is a pabulib file, not a ballot record: count it with `voting tally {path}` "
                         "or pabutools; verify the CSV, JSON or XLSX record with this script")
    raise Unreadable(_t("{path}: give a record ending in .csv, .json or .xlsx", path=path))


# --- checking the rows ---------------------------------------------------------------------------


@dataclass
class Checked:
    """What the rows say once every check held."""

    rows: int = 0
    current: dict = field(default_factory=dict)  # voter code -> choices of their latest version
    superseded: int = 0
    last_hash: str = ""
    first_cast_at: Optional[datetime] = None
    last_cast_at: Optional[datetime] = None
    checkpoints: list = field(default_factory=list)  # the (seq, hash) checkpoints the record extends


@dataclass(frozen=True)
class Checkpoint:
    """A chain head someone copied earlier, "SEQ:HASH": the record must hold that hash at that seq."""

    seq: int
    chain_hash: str

    @property
    def shown(self) -> str:
        return _t("checkpoint {seq}:{hash}…", seq=self.seq, hash=self.chain_hash[:12])


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from "SEQ:HASH" (seq 1 or more; the hash 64 hexadecimal digits, any case).

    :raises ValueError: with a message that says what is wrong (a usage error: exit 2).
    """
    seq, colon, chain_hash = str(text).strip().partition(":")
    seq, chain_hash = seq.strip(), chain_hash.strip().lower()
    if not colon or not seq or not chain_hash:
        raise ValueError(_t("a checkpoint is SEQ:HASH (the ballot number, a colon, its chain hash), not {text}",
                            text=_shown(text)))
    if not seq.isdigit() or int(seq) < 1:
        raise ValueError(_t("a checkpoint's seq must be a whole number of 1 or more, not {text}", text=_shown(seq)))
    if not re.fullmatch(r"[0-9a-f]{64}", chain_hash):
        raise ValueError(_t("a checkpoint's hash must be 64 hexadecimal digits, not {text}", text=_shown(chain_hash)))
    return Checkpoint(int(seq), chain_hash)


def check_rows(record: Record, expected_head: Optional[str] = None, checkpoints: Iterable = ()) -> Checked:
    """Run checks 1–5 of the module docstring over the record's rows, in one pass.

    A CSV record's rows are checked by a lean loop over the CSV reader's cells (`_check_csv_rows`),
    which takes every row that is plainly well formed and intact and hands any other row to the
    same checks as every other format, so that a bad row gets the same message either way.

    :raises Broken: naming the first bad row, or the first checkpoint the record does not extend.
    """
    check = _RowCheck(record, checkpoints)
    if record.csv is not None:
        _check_csv_rows(check, record)
    else:
        for row in record.rows:
            check.row(row)
    return check.finish(record, expected_head)


class _RowCheck:
    """Checks 1–5 over the rows read so far: the state one row's checks need from the rows before it."""

    def __init__(self, record: Record, checkpoints: Iterable):
        self.header = header = record.header
        self.known = {project.id for project in record.projects}
        self.waiting: dict = {}  # seq -> the checkpoints at that seq
        for checkpoint in checkpoints:
            self.waiting.setdefault(checkpoint.seq, []).append(checkpoint)
        self.previous = genesis_hash(header.cycle)
        self.checked = Checked(last_hash=self.previous)
        # voter code -> (version, where, superseded flag) of their latest row so far; `where` is the
        # row's text, or (row, line) from the lean CSV loop (made into text only for a message)
        self.latest: dict = {}
        self.number = 0
        self.first_cast_at = self.last_cast_at = None  # a datetime, or the text of a well-formed time

    def row(self, row: BallotRow) -> None:
        """Check one row (the next one)."""
        self.number = number = self.number + 1
        header, checked = self.header, self.checked
        _check_seq(row, number)
        if row.seq > header.chain_seq:
            raise Broken(_t("{where}: seq {seq} is beyond the chain the record names, which ends at seq {last}: "
                            "a row was added", where=row.where, seq=row.seq, last=header.chain_seq))
        digest = next_hash(self.previous, canonical_row(
            seq=row.seq, voter_code=row.voter_code, version=row.version, choices=row.choices,
            cast_at=row.cast_at, receipt=row.receipt))
        if digest != row.chain_hash:
            raise Broken(_t("{where}: the chain hash does not follow from this row and the one before it: this row "
                            "was changed (or a row before it was replaced)", where=row.where))
        for checkpoint in self.waiting.pop(row.seq, ()):
            if checkpoint.chain_hash != digest:
                raise Broken(_t("{where}: the record does not extend {checkpoint}: its chain hash at seq {seq} is "
                                "{digest}, not {hash}; the record was rewritten since that head was copied (or the "
                                "checkpoint was copied wrong)", where=row.where, checkpoint=checkpoint.shown,
                                seq=row.seq, digest=digest, hash=checkpoint.chain_hash))
            checked.checkpoints.append(checkpoint)
        _check_window(header, row)
        unknown = [project for project, _points in row.choices if project not in self.known]
        if unknown:
            raise Broken(_t("{where}: chooses project {project}, which is not in the record's project list",
                            where=row.where, project=unknown[0]))
        before = self.latest.get(row.voter_code)
        if before is None and row.version != 1 or before is not None and row.version != before[0] + 1:
            if before is None:
                raise Broken(_t("{where}: version {version} of this voter follows no earlier version",
                                where=row.where, version=row.version))
            raise Broken(_t("{where}: version {version} of this voter follows version {before}", where=row.where,
                            version=row.version, before=before[0]))
        if before is not None and not before[2]:
            raise Broken(_t("{where}: marked as the voter's current ballot, but {later} is a later version",
                            where=_where(before[1]), later=row.where))
        self.latest[row.voter_code] = (row.version, row.where, row.superseded)
        checked.current[row.voter_code] = row.choices
        checked.superseded += before is not None
        self.first_cast_at = self.first_cast_at or row.cast_at
        self.last_cast_at = row.cast_at
        self.previous = digest

    def finish(self, record: Record, expected_head: Optional[str]) -> Checked:
        """The checks once every row was read (check 4, and what no row could show)."""
        header, checked, number, previous = self.header, self.checked, self.number, self.previous
        _check_end(record, number)
        for _version, where, superseded in self.latest.values():
            if superseded:
                raise Broken(_t("{where}: marked as superseded, but no later ballot of the same voter follows",
                                where=_where(where)))
        if number != header.chain_seq:
            raise Broken(_t("the record ends after row {rows}, but the chain it names has {seq} ballots: row {next} "
                            "and later are missing (truncated or deleted)", rows=number, seq=header.chain_seq,
                            next=number + 1))
        if previous != header.chain_head:
            raise Broken(_t("row {rows}: the last chain hash {hash} is not the chain head the record names ({head})",
                            rows=number, hash=previous, head=header.chain_head))
        if expected_head is not None and previous != expected_head.strip().lower():
            raise Broken(_t("row {rows}: the last chain hash {hash} is not the head you gave ({head})", rows=number,
                            hash=previous, head=expected_head))
        for seq in sorted(self.waiting):
            checkpoint = self.waiting[seq][0]
            raise Broken(_t("the record does not extend {checkpoint}: it ends at seq {rows}, before the checkpoint's "
                            "seq {seq}; ballots recorded up to that checkpoint are missing",
                            checkpoint=checkpoint.shown, rows=number, seq=seq))
        checked.first_cast_at, checked.last_cast_at = (
            _time(value, "the record") if isinstance(value, str) else value
            for value in (self.first_cast_at, self.last_cast_at))
        checked.rows, checked.last_hash = number, previous
        return checked


def _where(where) -> str:
    """A row's place for a message: its text, or (row, line) from the lean CSV loop."""
    return where if isinstance(where, str) else f"row {where[0]} (line {where[1]})"


# A cast time already in the chain's text (then it is hashed as it stands): the date is checked once
# per day (`_valid_day`), the time of day by this pattern.
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z")
_FLAGS = {"true": True, "false": False}
_VERSIONS = {str(number): number for number in range(1, 1000)}
_CHOICE_CACHE_LIMIT = 100_000  # distinct choice texts remembered (a record has few: the same sets recur)


def _valid_day(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _check_csv_rows(check: _RowCheck, record: Record) -> None:
    """Checks 1–3 over a CSV record's ballot rows, straight from the reader's cells.

    A row is taken here when every cell is already what the chain hashes (seq the next number, a
    plain version, choices seen before or readable, a cast time in the chain's own text, true or
    false, no formula guard) and every check holds: then its canonical text is the cells joined,
    and one sha256 of it is the whole of the work. Any other row (a bad one, the END row, a
    checkpoint's) goes through `_RowCheck.row`, the checks every format shares, which gives the
    same answer for a good row and names the first problem of a bad one.
    """
    reader, lines, path = record.csv
    _csv_ballot_columns(lines)
    header, checked, latest, waiting = check.header, check.checked, check.latest, check.waiting
    current = checked.current
    opens = format_cast_at(header.voting_opens_at) if header.voting_opens_at is not None else ""
    closes = format_cast_at(header.voting_closes_at) if header.voting_closes_at is not None else "\uffff"
    chain_seq, known = header.chain_seq, check.known
    choice_cache: dict = {}  # choices cell -> (the chain's text of them, the pairs), or None: not lean
    days: dict = {}  # the date of a cast time -> whether it is a real date
    is_time, sha256, flags, versions = _CANONICAL_TIME.fullmatch, hashlib.sha256, _FLAGS, _VERSIONS
    number, previous, superseded, first, last = check.number, check.previous, 0, None, None
    collecting = gc.isenabled()
    gc.disable()  # a million rows make a million tuples, none of them in a cycle: no collection needed
    try:
        for cells in reader:
            if len(cells) == 8:
                seq, code, version, choices, cast_at, receipt, flag, chain_hash = cells
                number += 1
                lean = choice_cache.get(choices, False)
                if lean is False:
                    lean = _lean_choices(choices, known)
                    if len(choice_cache) < _CHOICE_CACHE_LIMIT:
                        choice_cache[choices] = lean
                day = cast_at[:10]
                valid = days.get(day)
                if valid is None:
                    valid = days[day] = _valid_day(day)
                before = latest.get(code)
                version_number = versions.get(version)
                gone = flags.get(flag)
                if (lean is not None and valid and gone is not None and version_number is not None
                        and seq == str(number) and number <= chain_seq and number not in waiting
                        and opens <= cast_at < closes and is_time(cast_at)
                        and code[:1] != "'" and receipt[:1] != "'"
                        and (version_number == 1 if before is None else version_number == before[0] + 1 and before[2])):
                    digest = sha256(f"{previous}\nv2|{seq}|{code}|{version}|{lean[0]}|{cast_at}|{receipt}".encode()
                                    ).hexdigest()
                    if digest == chain_hash:
                        latest[code] = (version_number, (number, reader.line_num), gone)
                        current[code] = lean[1]
                        superseded += before is not None
                        if first is None:
                            first = cast_at
                        last = cast_at
                        previous = digest
                        continue
                number -= 1
            # Any other row: read and checked as every format's rows are.
            check.number, check.previous = number, previous
            checked.superseded += superseded
            superseded = 0
            if first is not None:
                check.first_cast_at = check.first_cast_at or first
                check.last_cast_at = last
                first = None
            cells = [plain_cell(cell) for cell in cells]
            while cells and cells[-1] == "":
                cells.pop()
            if not cells:
                continue
            if cells[0] == "END":
                _csv_trailer(record, cells, reader.line_num)
                break
            row = _csv_ballot_row(cells, number + 1, reader.line_num)
            check.row(row)
            number, previous = check.number, check.previous
    except (csv.Error, UnicodeDecodeError) as error:
        raise _unreadable(error, reader, path) from None
    finally:
        if collecting:
            gc.enable()
    check.number, check.previous = number, previous
    checked.superseded += superseded
    if first is not None:
        check.first_cast_at = check.first_cast_at or first
        check.last_cast_at = last


def _lean_choices(cell: str, known: set) -> Optional[tuple]:
    """(the chain's text of a choices cell, its pairs) when the cell reads as choices of known
    projects; else None (the row is then checked the long way, which names what is wrong)."""
    if cell[:1] == "'":
        return None
    try:
        pairs = _choices(cell, "")
    except Broken:
        return None
    if any(project not in known for project, _points in pairs):
        return None
    return format_choices(pairs), pairs


def _check_window(header: Header, row: BallotRow) -> None:
    """Every ballot of the record, counted or superseded, was cast within the voting window."""
    opens, closes = header.voting_opens_at, header.voting_closes_at
    early = opens is not None and row.cast_at < opens
    if early or closes is not None and row.cast_at >= closes:
        what = _t("a superseded ballot" if row.superseded else "a counted ballot")
        bound = (_t("before voting opened ({at})", at=format_cast_at(opens)) if early
                 else _t("at or after voting closed ({at})", at=format_cast_at(closes)))
        raise Broken(_t("{where}: {what} cast at {cast_at}, {bound}: no ballot of the record may be cast outside the "
                        "voting window", where=row.where, what=what, cast_at=format_cast_at(row.cast_at), bound=bound))


def _check_seq(row: BallotRow, number: int) -> None:
    if row.seq == number:
        return
    if row.seq < number:
        raise Broken(_t("{where}: seq {seq} again, where {number} was expected: this row is a duplicate or out of "
                        "order", where=row.where, seq=row.seq, number=number))
    raise Broken(_t("{where}: seq {seq} where {number} was expected: a row is missing before it, or rows were "
                    "reordered", where=row.where, seq=row.seq, number=number))


def _check_end(record: Record, rows: int) -> None:
    if not record.trailer:
        raise Broken(_t("the file ends after row {rows} without its END row: it is truncated", rows=rows))
    if record.trailer["rows"] != rows:
        raise Broken(_t("{where}: the record says it has {said} rows, but {rows} were read",
                        where=record.trailer["where"], said=record.trailer["rows"], rows=rows))


# --- counting --------------------------------------------------------------------------------------


@dataclass
class Count:
    rule: str
    ballots: int
    selected: list
    cost: int  # fen


def count(projects: list, fund: int, ballots: list, method: str, rule: str,
          threshold: Optional[int] = None, threshold_percent: Optional[int] = None,
          fund_unvoted: bool = False) -> Count:
    """Count ballots with a rule. `projects`: [(id, cost in fen)] in the record's order; `ballots`:
    one [(project id, points)] per voter (their current ballot). A project with no votes is never
    funded unless `fund_unvoted` (a result counted before that rule).

    :raises Broken: for greedy-threshold without a threshold.
    """
    order = [project_id for project_id, _cost in projects]
    costs = dict(projects)
    scores = dict.fromkeys(order, 0)
    named = dict.fromkeys(order, 0)
    cumulative = method == "cumulative"
    # Ballots read alike are often one list object (`check_rows` shares them): each distinct one is
    # counted once, times how many voters hold it.
    alike = Counter(map(id, ballots))
    for ballot in dict(zip(map(id, ballots), ballots)).values():
        voters = alike[id(ballot)]
        for project_id, points in ballot:
            scores[project_id] += (points if cumulative else 1) * voters
            named[project_id] += voters
    voted = order if fund_unvoted else [p for p in order if scores[p] > 0]
    position = {project_id: index for index, project_id in enumerate(order)}
    ranking = sorted(order, key=lambda p: (-scores[p], costs[p], position[p]))
    if rule.startswith("mes"):
        rank = {project_id: index for index, project_id in enumerate(ranking)}
        approvals = [{project_id for project_id, _points in ballot} for ballot in ballots]
        selected = equal_shares(order, costs, fund, approvals, rank, MES_STEP_FEN)
        if rule == "mes+greedy":
            spent = sum(costs[p] for p in selected)
            selected += greedy([p for p in ranking if p not in selected and p in voted], costs, scores,
                               fund - spent)
    else:
        if rule == "greedy-threshold" and threshold is None and threshold_percent is None:
            raise Broken("the rule greedy-threshold needs a threshold, and the record gives none")
        if rule == "greedy-threshold" and threshold_percent is not None:
            # named on at least threshold_percent % of the ballots (exact: no division)
            ranking = [p for p in ranking if named[p] * 100 >= threshold_percent * len(ballots)]
            threshold = None
        selected = greedy([p for p in ranking if p in voted], costs, scores, fund, skip=rule != "greedy-no-skip",
                          threshold=threshold if rule == "greedy-threshold" else None)
    return Count(rule, len(ballots), selected, sum(costs[p] for p in selected))


def greedy(ranking: list, costs: dict, scores: dict, budget: int, *, skip: bool = True,
           threshold: Optional[int] = None) -> list:
    """Fund projects in ranking order while they fit; skip (or stop at) one that does not."""
    selected, remaining = [], budget
    for project_id in ranking:
        if threshold is not None and scores[project_id] < threshold:
            continue
        if costs[project_id] <= remaining:
            selected.append(project_id)
            remaining -= costs[project_id]
        elif not skip:
            break
    return selected


def equal_shares(order: list, costs: dict, budget: int, approvals: list, rank: dict, step: int) -> list:
    """The Method of Equal Shares with add-one completion (see the module docstring), exactly."""
    voters = len(approvals)
    if voters == 0:
        return []
    previous: list = []
    for raises in range(budget // step + 1):
        selected = equal_shares_run(order, costs, approvals, Fraction(budget, voters) + raises * step, rank)
        spent = sum(costs[p] for p in selected)
        if spent > budget:
            return previous
        if all(p in selected or costs[p] > budget - spent for p in order):
            return selected
        previous = selected
    return previous


def equal_shares_run(order: list, costs: dict, approvals: list, money_each: Fraction, rank: dict) -> list:
    """One run of MES with every voter starting with `money_each`: the funded projects, in order.

    Voters with the same set of approved projects always hold the same money, so they are kept
    together as one group with a head count.
    """
    groups = Counter(frozenset(approved) for approved in approvals if approved)
    members = list(groups)
    size = [groups[approved] for approved in members]
    money = [money_each] * len(members)
    supporters = {p: [g for g, approved in enumerate(members) if p in approved] for p in order}
    selected = [p for p in order if supporters[p] and costs[p] == 0]  # free and wanted: funded first
    candidates = [p for p in order if supporters[p] and costs[p] > 0]
    while True:
        best, best_share = None, None
        for p in list(candidates):
            if sum(money[g] * size[g] for g in supporters[p]) < costs[p]:
                candidates.remove(p)  # money only shrinks within a run: it stays unaffordable
                continue
            share = _share(sorted((money[g], size[g]) for g in supporters[p]), costs[p])
            if best is None or share / costs[p] < best_share / costs[best] or \
                    (share / costs[p] == best_share / costs[best] and rank[p] < rank[best]):
                best, best_share = p, share
        if best is None:
            return selected
        for g in supporters[best]:
            money[g] -= min(money[g], best_share)
        selected.append(best)
        candidates.remove(best)


def _share(holdings: list, cost: int) -> Fraction:
    """The payment t such that the supporters, each paying min(own money, t), pay the cost exactly.

    `holdings` is [(money of one voter, voters holding it)] from the poorest up.
    """
    payers = sum(voters for _money, voters in holdings)
    paid = Fraction(0)
    for money, voters in holdings:
        if money * payers >= cost - paid:
            return (cost - paid) / payers
        paid += money * voters
        payers -= voters
    raise ValueError("the supporters cannot pay the cost")


def recount(record: Record, checked: Checked) -> Count:
    """Count the record's current ballots with the cycle's rule."""
    header = record.header
    projects = [(project.id, project.cost) for project in record.projects]
    ballots = list(checked.current.values())
    result = count(projects, header.fund, ballots, header.method, header.outcome_rule, header.threshold,
                   header.threshold_percent, header.fund_unvoted)
    return with_min_turnout(header, result)


def below_min_turnout(header: Header, ballots: int) -> bool:
    """Whether fewer than the header's minimum turnout voted (of `eligible`): then nothing is funded."""
    minimum = header.min_turnout_percent
    return minimum is not None and (not header.eligible or ballots * 100 < minimum * header.eligible)


def with_min_turnout(header: Header, result: Count) -> Count:
    """The count, or nothing funded when the turnout is below the header's minimum."""
    if below_min_turnout(header, result.ballots):
        return Count(result.rule, result.ballots, [], 0)
    return result


# --- the report --------------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    return f"{fen // FEN_PER_YUAN}.{fen % FEN_PER_YUAN:02d}"


def verify(path: str, expected_head: Optional[str] = None, counter=None, checkpoints: Iterable = (),
           language: str = "en") -> tuple[int, list]:
    """Verify the record at `path`: (exit status, lines to print, in `language`: "en" or "zh").

    `counter(record, checked) -> Count` recounts the current ballots (default: `recount` above);
    `checkpoints`: `Checkpoint`s (see `parse_checkpoint`) the record must extend.
    """
    global _language
    _language, before = language, _language
    try:
        return _verify_file(path, expected_head, counter, checkpoints)
    finally:
        _language = before


def _verify_file(path: str, expected_head: Optional[str], counter, checkpoints: Iterable) -> tuple[int, list]:
    try:
        record = read_record(path)
    except Unreadable as error:
        return EXIT_UNREADABLE, [_t("cannot verify: {error}", error=error)]
    except Broken as error:
        return EXIT_BAD, [_t("NOT VERIFIED: {error}", error=error)]
    try:
        return _verify(record, expected_head, counter, list(checkpoints))
    except Unreadable as error:
        return EXIT_UNREADABLE, [_t("cannot verify: {error}", error=error)]
    except Broken as error:
        return EXIT_BAD, [_t("NOT VERIFIED: {error}", error=error)]
    finally:
        getattr(record.rows, "close", lambda: None)()  # a reader stopped mid-file lets go of its stream first
        record.close()


def _verify(record: Record, expected_head: Optional[str], counter, checkpoints: list) -> tuple[int, list]:
    checked = check_rows(record, expected_head, checkpoints)
    header = record.header
    lines = [
        _t("record: cycle {cycle}, {name} ({code}), {year}; fund {fund} yuan; {method} ballots; rule {rule}",
           cycle=header.cycle, name=header.community_name, code=header.community, year=header.year,
           fund=yuan(header.fund), method=header.method, rule=header.outcome_rule),
        _t("rows: {rows} ballots recorded (seq 1–{rows}): {current} current, {superseded} superseded",
           rows=checked.rows, current=len(checked.current), superseded=checked.superseded),
        _t("window: every ballot cast within the voting window ({opens} to {closes})",
           opens=_bound(header.voting_opens_at), closes=_bound(header.voting_closes_at)),
        _t("chain: intact, head {head}", head=checked.last_hash),
    ]
    lines += [_t("checkpoint {seq}:{hash}: extended", seq=c.seq, hash=c.chain_hash) for c in checked.checkpoints]
    if header.status == SO_FAR:
        lines += [
            _t("SO FAR: this record was exported while voting was still open. It is not the result;"),
            _t("        the chain is intact up to its last row."),
            _t("OK: the record so far is intact. Keep its head as a checkpoint: --checkpoint {seq}:{hash}",
               seq=checked.rows, hash=checked.last_hash) if checked.rows else _t("OK: the record so far is intact."),
        ]
        return EXIT_OK, lines
    result = (counter or recount)(record, checked)
    counted = _t("{ballots} ballots; funded {funded} (cost {cost} of {fund} yuan)", ballots=result.ballots,
                 funded=", ".join(map(str, result.selected)) or _t("nothing"), cost=yuan(result.cost),
                 fund=yuan(header.fund))
    if result.ballots != header.ballots_counted or list(map(int, result.selected)) != header.selected:
        published = _t("{ballots} ballots; funded {funded}", ballots=header.ballots_counted,
                       funded=", ".join(map(str, header.selected or [])) or _t("nothing"))
        raise Broken(_t("the recount does not give the published result: counted {counted}, published {published}",
                        counted=counted, published=published))
    lines += [
        _t("recount ({rule}): {counted}: the published result", rule=result.rule, counted=counted),
        _t("OK: the record is intact and the published result is its count."),
    ]
    if expected_head is None:
        lines.append(_t("Check that the results page shows the same chain head: {head}", head=checked.last_hash))
    return EXIT_OK, lines


def _bound(value: Optional[datetime]) -> str:
    return format_cast_at(value) if value is not None else _t("unbounded")


def main(argv: Optional[list] = None) -> int:
    global _language
    # the language first: the help and the usage errors speak it too
    language = argparse.ArgumentParser(add_help=False)
    language.add_argument("--lang", choices=LANGUAGES, default=default_language())
    _language = language.parse_known_args(argv)[0].lang
    parser = argparse.ArgumentParser(
        description=_t("Verify a ballot record: hash chain, voting window, checkpoints and recount."))
    parser.add_argument("record", help=_t("the record: .csv, .json or .xlsx"))
    parser.add_argument("--head", help=_t("the chain head published on the results page (64 hex digits)"))
    parser.add_argument("--checkpoint", action="append", default=[], metavar="SEQ:HASH", type=_checkpoint_argument,
                        help=_t("a chain head copied earlier (from the list of receipts, or your receipt check) that "
                                "the record must extend; repeat for several"))
    parser.add_argument("--lang", choices=LANGUAGES, default=_language,
                        help=_t("the language of the messages (default: from LC_ALL, LC_MESSAGES or LANG)"))
    arguments = parser.parse_args(argv)
    status, lines = verify(arguments.record, arguments.head, checkpoints=arguments.checkpoint,
                           language=arguments.lang)
    stream = sys.stdout if status == EXIT_OK else sys.stderr
    for line in lines:
        print(line, file=stream)
    return status


def _checkpoint_argument(text: str) -> Checkpoint:
    try:
        return parse_checkpoint(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
