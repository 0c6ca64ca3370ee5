"""Extract azurerm's resource schemas, as `azurerm-schema.json`, from the npm package @cdktf/provider-azurerm.

`terraform validate` downloads the provider, which cannot happen offline. The npm package
@cdktf/provider-azurerm is generated from the provider's own schema (`terraform providers schema -json`)
and ships it as a jsii assembly (`package/.jsii`): one struct per resource configuration and per nested
block, each property documented with its Terraform name (the registry link's `#anchor`), whether it is
optional, and its type. This script turns that into the small JSON `test_provider_schema.py` reads: every
resource and data source type name of the provider, and the full schema of the types deploy/azure uses.

    cd "$(mktemp -d)" && npm pack @cdktf/provider-azurerm@14.23.1
    python tests/unit/deploy/extract_azurerm_schema.py cdktf-provider-azurerm-14.23.1.tgz

Run it again after adding a resource type to deploy/azure or moving the pinned provider version (then
pack the package generated from that version: its README names the provider version).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

import hcl2

HERE = Path(__file__).resolve().parent
AZURE = HERE.parents[2] / "deploy" / "azure"
OUTPUT = HERE / "azurerm-schema.json"
PACKAGE = "@cdktf/provider-azurerm"
TYPE_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/azurerm/([\d.]+)/docs/(resources|data-sources)/\w+ (azurerm_\w+)\}"
)
ANCHOR = re.compile(r"/docs/(?:resources|data-sources)/\w+#(\w+) ")
PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "any"}


def load_assembly(tarball: Path) -> dict[str, Any]:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/.jsii")
        assert member is not None, "the package has no jsii assembly"
        return json.load(member)


def terraform_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = ANCHOR.search(docs.get("remarks", "") + " " + docs.get("summary", ""))
    if not match:
        raise ValueError(f"no Terraform name for property {prop['name']}")
    return match.group(1)


def struct_in(type_ref: dict[str, Any], types: dict[str, Any]) -> tuple[str, bool] | None:
    """The nested block's struct a property's type refers to, and whether the block may repeat."""
    if "fqn" in type_ref:
        found = types.get(type_ref["fqn"])
        return (type_ref["fqn"], False) if found and found.get("datatype") else None
    if "union" in type_ref:
        for option in type_ref["union"]["types"]:
            if block := struct_in(option, types):
                return block
    if "collection" in type_ref and type_ref["collection"]["kind"] == "array":
        inner = struct_in(type_ref["collection"]["elementtype"], types)
        return (inner[0], True) if inner else None
    return None


def attribute_type(type_ref: dict[str, Any]) -> str:
    if "primitive" in type_ref:
        return PRIMITIVES[type_ref["primitive"]]
    if "collection" in type_ref:
        return "list" if type_ref["collection"]["kind"] == "array" else "map"
    if "union" in type_ref:
        kinds = {attribute_type(t) for t in type_ref["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"}
        return kinds.pop() if len(kinds) == 1 else "any"
    return "any"


def schema_of(fqn: str, types: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        name = terraform_name(prop)
        required = not prop.get("optional", False)
        if block := struct_in(prop["type"], types):
            blocks[name] = {"required": required, "repeatable": block[1], "schema": schema_of(block[0], types)}
        else:
            attributes[name] = {"type": attribute_type(prop["type"]), "required": required}
    return {"attributes": attributes, "blocks": blocks}


def used_types(directory: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"resources": set(), "data-sources": set()}
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.load(path.open())
        for key, kind in (("resource", "resources"), ("data", "data-sources")):
            for block in parsed.get(key, []):
                used[kind] |= {name.strip('"') for name in block if name.strip('"').startswith("azurerm_")}
    return used


def extract(tarball: Path, directory: Path = AZURE) -> dict[str, Any]:
    assembly = load_assembly(tarball)
    types = assembly["types"]
    versions: set[str] = set()
    configs: dict[str, dict[str, str]] = {"resources": {}, "data-sources": {}}
    for entry in types.values():
        match = TYPE_LINK.search(entry.get("docs", {}).get("summary", "")) if entry.get("kind") == "class" else None
        if match and entry["docs"]["summary"].startswith("Represents a"):
            versions.add(match.group(1))
            config = next(p for p in entry["initializer"]["parameters"] if p["name"] == "config")
            configs[match.group(2)][match.group(3)] = config["type"]["fqn"]
    if len(versions) != 1:
        raise ValueError(f"expected one provider version, found {sorted(versions)}")
    used = used_types(directory)
    return {
        "provider": "registry.terraform.io/hashicorp/azurerm",
        "version": versions.pop(),
        "extracted_from": f"{PACKAGE}@{assembly['version']}",
        "names": {kind: sorted(found) for kind, found in configs.items()},
        "schemas": {kind: {name: schema_of(configs[kind][name], types) for name in sorted(used[kind])
                           if name in configs[kind]} for kind in configs},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="the file `npm pack @cdktf/provider-azurerm@<version>` made")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    schema = extract(args.tarball)
    args.output.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"azurerm {schema['version']}: {sum(map(len, schema['schemas'].values()))} schemas -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
