"""Generates src/lit_session_client/models.py from the service's contract, server/openapi.yaml.

Every schema under components/schemas becomes a TypedDict (an inline object gets a class named
after its parent and field), so the JSON the service sends is the model and a map goes to the
SDK unchanged. Written for Python 3.9 (typing_extensions for NotRequired). `--check` fails when
the committed file differs from what the contract generates, so a field added to the contract
and not to the client breaks the build; the fix is to run this script and commit the result.

Needs PyYAML (pinned in requirements-dev.txt). Handles the OpenAPI 3.0 subset the contract uses:
object/properties/required, additionalProperties, array/items, enum, $ref, oneOf, allOf,
nullable, string/integer/number/boolean.
"""

from __future__ import annotations

import keyword
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SPEC = HERE.parents[2] / "server" / "openapi.yaml"
OUT = HERE.parent / "src" / "lit_session_client" / "models.py"

HEADER = '''\
"""The service's request and response types, generated from server/openapi.yaml by
tools/gen_models.py. Do not edit: change the contract and run `python tools/gen_models.py`."""

# ruff: noqa
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from typing_extensions import Literal, NotRequired, TypedDict
'''

SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


class Generator:
    def __init__(self, schemas: dict) -> None:
        self.schemas = schemas
        self.blocks: list[str] = []
        self.aliases: list[str] = []

    def type_of(self, schema: dict, hint: str) -> str:
        text = self._type_of(schema, hint)
        return f"Optional[{text}]" if schema.get("nullable") else text

    def _type_of(self, schema: dict, hint: str) -> str:
        if "$ref" in schema:
            return schema["$ref"].rsplit("/", 1)[-1]
        if "allOf" in schema:
            parts = [self.type_of(s, hint) for s in schema["allOf"]]
            if len(parts) != 1:
                raise SystemExit(f"{hint}: allOf with {len(parts)} parts is not supported")
            return parts[0]
        if "oneOf" in schema:
            return f"Union[{', '.join(self.type_of(s, hint) for s in schema['oneOf'])}]"
        if "enum" in schema:
            return f"Literal[{', '.join(repr(v) for v in schema['enum'])}]"
        kind = schema.get("type")
        if kind == "array":
            return f"List[{self.type_of(schema.get('items', {}), hint + 'Item')}]"
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                self.typed_dict(hint, schema)
                return hint
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"Dict[str, {self.type_of(extra, hint + 'Value')}]"
            return "Dict[str, Any]"
        if kind in SCALARS:
            return SCALARS[kind]
        return "Any"

    def typed_dict(self, name: str, schema: dict) -> None:
        required = set(schema.get("required", []))
        fields = []
        for field, sub in schema["properties"].items():
            text = self.type_of(sub, name + camel(field))
            fields.append((field, text if field in required else f"NotRequired[{text}]"))
        doc = schema.get("description", "").strip().replace('"""', "'''")
        if all(f.isidentifier() and not keyword.iskeyword(f) for f, _ in fields):
            lines = [f"class {name}(TypedDict):"]
            if doc:
                lines.append(f'    """{doc}"""')
            lines += [f"    {f}: {t}" for f, t in fields] or ["    pass"]
        else:
            body = ", ".join(f"{f!r}: {t}" for f, t in fields)
            lines = [f"{name} = TypedDict({name!r}, {{{body}}})"]
        self.blocks.append("\n".join(lines))

    def run(self) -> str:
        for name, schema in self.schemas.items():
            if schema.get("type") == "object" or "properties" in schema:
                self.typed_dict(name, schema) if schema.get("properties") else self.aliases.append(
                    f"{name} = {self.type_of(schema, name)}"
                )
            else:
                self.aliases.append(f"{name} = {self.type_of(schema, name)}")
        return HEADER + "\n" + "\n".join(self.aliases) + "\n\n\n" + "\n\n\n".join(self.blocks) + "\n"


def generate() -> str:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return Generator(spec["components"]["schemas"]).run()


def main() -> int:
    text = generate()
    if "--check" in sys.argv[1:]:
        committed = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if committed != text:
            a, b = committed.splitlines(), text.splitlines()
            i = next((k for k in range(max(len(a), len(b))) if k >= len(a) or k >= len(b) or a[k] != b[k]), 0)
            print(
                f"src/lit_session_client/models.py is not what server/openapi.yaml generates "
                f"(first difference at line {i + 1}):\n"
                f"  committed: {a[i] if i < len(a) else '<end of file>'}\n"
                f"  generated: {b[i] if i < len(b) else '<end of file>'}\n"
                "run `python tools/gen_models.py` in clients/python and commit the result",
                file=sys.stderr,
            )
            return 1
        print("src/lit_session_client/models.py matches server/openapi.yaml")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
