"""Fill the Chinese (zh_Hans_CN) translations from a JSON mapping {msgid: msgstr}: `python tools/po_fill.py FILE.json`.

Run `make messages` first so the catalogue has the new msgids; afterwards `make translations`.
A plural message (ngettext) is keyed by its singular msgid; its value is one string (Chinese has one
plural form) or a list of the forms. Filling a message clears its `fuzzy` flag.
Prints the msgids still untranslated or fuzzy.
"""
import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "voting/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return all(strings) and "fuzzy" not in message.flags


def main(mapping_path: str | None) -> None:
    with open(PO, "rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN")
    mapping = {}
    if mapping_path:
        with open(mapping_path, encoding="utf-8") as f:
            mapping = json.load(f)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in mapping:
            value = mapping[key]
            if message.pluralizable:
                forms = [value] if isinstance(value, str) else list(value)
                message.string = tuple(forms + forms[-1:] * (catalog.num_plurals - len(forms)))[:catalog.num_plurals]
            else:
                message.string = value
            message.flags.discard("fuzzy")
        elif not _translated(message):
            missing.append(key)
    with open(PO, "wb") as f:
        write_po(f, catalog, width=0)
    for key in missing:
        print(json.dumps(key, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
