"""Fill the Chinese (zh_Hans_CN) translations from a JSON mapping {msgid: msgstr}: `python tools/po_fill.py FILE.json`.

Run `make messages` first so the catalogue has the new msgids; afterwards `make translations`.
Prints the msgids still untranslated.
"""
import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "voting/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def main(mapping_path: str | None) -> None:
    with open(PO, "rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN")
    mapping = json.load(open(mapping_path, encoding="utf-8")) if mapping_path else {}
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in mapping:
            message.string = mapping[key]
            message.flags.discard("fuzzy")
        elif not message.string:
            missing.append(key)
    with open(PO, "wb") as f:
        write_po(f, catalog, width=0)
    for key in missing:
        print(json.dumps(key, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
