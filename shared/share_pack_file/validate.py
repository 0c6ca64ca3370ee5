"""Check a share pack document in one pass and build the canonical `SharePack` from it.

A document is what a reader produced: plain dicts, lists and scalars keyed by the vocabulary of `schema.py`,
whatever the file format. Shape and format rules come from the marshmallow schemas (loaded item by item so
one bad recipient does not hide the others and paths stay aligned); the rules that need several values
(strategy, cross references, duplicates, Unity Catalog quotas) are here. Every problem is collected, so a
requestor fixes a file in one round trip.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from marshmallow import Schema, ValidationError

from shared.share_pack_file import pipelines as pipeline_rules
from shared.share_pack_file.expiry import check_grant_expiries
from shared.share_pack_file.issues import Findings, Path, echo
from shared.share_pack_file.limits import FormatLimits
from shared.share_pack_file.model import (
    Authentication,
    DataObjectSpec,
    DataObjectType,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)
from shared.share_pack_file.schema import (
    FREE_TEXT_FIELDS,
    NOT_A_MAPPING,
    REQUIRED,
    SHARE_PACK_SCHEMA,
    UNKNOWN_FIELD,
    DataObjectSchema,
    MetadataSchema,
    PipelineSchema,
    RecipientSchema,
    SharePackSchema,
    ShareSchema,
    aliases,
    field_names,
    schema_at,
    section_schema,
)

# Unity Catalog per-share quotas ("Resource quotas" in https://learn.microsoft.com/azure/databricks/resources/limits);
# views count as tables.
SHARE_QUOTAS: dict[str, tuple[frozenset[DataObjectType], int]] = {
    "tables and views": (frozenset({DataObjectType.TABLE, DataObjectType.VIEW}), 1000),
    "schemas": (frozenset({DataObjectType.SCHEMA}), 500),
    "volumes": (frozenset({DataObjectType.VOLUME}), 1000),
    "models": (frozenset({DataObjectType.MODEL}), 1000),
}

_NOUNS: dict[type[Schema], str] = {
    SharePackSchema: "share pack",
    MetadataSchema: "metadata",
    RecipientSchema: "recipient",
    ShareSchema: "share",
    DataObjectSchema: "data object",
    PipelineSchema: "pipeline",
}


def validate_share_pack(
    document: Any, findings: Findings, limits: FormatLimits | None = None
) -> SharePackSpec | None:
    """Validate a document, adding every error and warning to `findings`; return the pack if it has no errors."""
    limits = limits or FormatLimits()
    if not isinstance(document, Mapping):
        findings.error(
            (),
            "A share pack must be a mapping with the sections metadata, recipient and share "
            f"(this file holds {_kind(document)}).",
        )
        return None
    document = normalise_keys(document, SHARE_PACK_SCHEMA, (), findings)
    for key in document:
        if key not in SHARE_PACK_SCHEMA.fields:
            findings.error((key,), _humanise((key,), UNKNOWN_FIELD))
    for key, field in SHARE_PACK_SCHEMA.fields.items():
        if field.required and key not in document:
            findings.error((key,), f"The share pack has no '{key}' section (in Excel: no '{key}' sheet).")

    metadata = _load_metadata(document.get("metadata"), limits, findings)
    strategy = metadata.get("strategy") if metadata else None
    deleting = strategy is Strategy.DELETE
    raw_recipients = _section_items(document, "recipient", findings)
    raw_shares = _section_items(document, "share", findings)
    declared = {
        str(item["name"]).strip().lower()
        for item in raw_recipients
        if isinstance(item, Mapping) and isinstance(item.get("name"), str | int)
    }

    recipients = [
        _check_recipient(item, ("recipient", index), deleting=deleting, limits=limits, findings=findings)
        for index, item in _while_errors_fit(raw_recipients, "recipient", findings)
    ]
    shares = [
        _check_share(item, ("share", index), deleting=deleting, declared=declared, limits=limits, findings=findings)
        for index, item in _while_errors_fit(raw_shares, "share", findings)
    ]
    pipelines = _check_pipelines(document, shares, deleting=deleting, findings=findings)
    _check_duplicates(recipients, "recipient", findings)
    _check_duplicates(shares, "share", findings)
    _check_duplicates(pipelines, "pipelines", findings)
    if not raw_recipients and not raw_shares and "recipient" in document and "share" in document:
        findings.error((), "The share pack declares no recipients and no shares: there is nothing to do.")
    if not deleting:
        used = {name for share in shares if share for name in share.get("recipients", ())}
        for index, recipient in enumerate(recipients):
            if recipient and recipient.get("name") and recipient["name"].lower() not in used:
                findings.warn(("recipient", index), f"Recipient '{recipient['name']}' is not used by any share.")
        _check_property_partitions(recipients, shares, findings)

    if findings.has_errors or metadata is None:
        return None
    return SharePackSpec(
        metadata=Metadata(**metadata),
        recipients=tuple(_build_recipient(item, deleting) for item in recipients),
        shares=tuple(_build_share(item) for item in shares),
        pipelines=tuple(pipeline_rules.build_pipeline(item) for item in pipelines),
    )


def _check_pipelines(
    document: Mapping[str, Any], shares: list[dict[str, Any]], *, deleting: bool, findings: Findings
) -> list[dict[str, Any]]:
    tables = pipeline_rules.shared_tables(shares)
    loaded_items = []
    items = _section_items(document, pipeline_rules.SECTION, findings)
    for index, item in _while_errors_fit(items, pipeline_rules.SECTION, findings):
        path = (pipeline_rules.SECTION, index)
        given, loaded, messages = _load(section_schema(pipeline_rules.SECTION), item, path, findings)
        pipeline_rules.check_pipeline(loaded, given, messages, path, deleting=deleting, shared_tables=tables,
                                      findings=findings)
        loaded_items.append(loaded)
    return loaded_items


def normalise_keys(item: Any, schema: Schema, path: Path, findings: Findings) -> Any:
    """Rename alias keys to their canonical field (with a warning) and drop empty (null) values.

    A YAML `comment:` with nothing after it, or an empty cell, means the field is not given.
    """
    if not isinstance(item, Mapping):
        return item
    table = aliases(schema)
    result: dict[str, Any] = {}
    for key, value in item.items():
        if value is None:
            continue
        key = key if isinstance(key, str) else str(key)
        name = table.get(key, key)
        if name != key:
            if item.get(name) is not None:
                findings.error((*path, key), f"'{echo(key)}' is an old name for '{name}', which is also given; keep "
                               f"only '{name}'.")
                continue
            findings.warn((*path, key), f"'{echo(key)}' is an old name for '{name}'; it was read as '{name}'.")
        result[name] = value
    return result


def _load(schema: Schema, item: Any, path: Path, findings: Findings) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Load one item and report its errors.

    Returns the item with canonical keys, the values that loaded (all of them, or the valid part) and the
    error messages by field (`_schema` when the item itself is wrong), so later rules can skip what failed.
    """
    item = normalise_keys(item, schema, path, findings)
    try:
        return item, schema.load(item), {}
    except ValidationError as exc:
        report_messages(exc.messages, path, findings)
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        return item, valid, messages


def report_messages(messages: Any, path: Path, findings: Findings) -> None:
    """Turn a marshmallow error structure into errors, one per message, each at its own path."""
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            report_messages(sub, path if key == "_schema" else (*path, key), findings)
    elif isinstance(messages, list | tuple):
        for message in messages:
            report_messages(message, path, findings)
    elif findings.errors_full:
        findings.error(path, "")  # only counted: tens of thousands of unknown keys must not cost a message each
    else:
        findings.error(path, _humanise(path, str(messages)))


def _humanise(path: Path, message: str) -> str:
    """Rewrite marshmallow's generic messages into sentences that name the field and what to do."""
    field = next((segment for segment in reversed(path) if isinstance(segment, str)), "")
    if message == UNKNOWN_FIELD:
        schema = schema_at(path[:-1])
        known = field_names(schema) if schema else ()
        return unknown_field_message(str(path[-1]), known, f"{_NOUNS.get(type(schema), 'item')} field")
    if message == REQUIRED:
        return f"'{field}' is required."
    if message == NOT_A_MAPPING:
        schema = schema_at(path)
        noun = _NOUNS.get(type(schema), "item")
        known = ", ".join(field_names(schema)) if schema else ""
        return f"Each {noun} must be a mapping of fields ({known})."
    return f"{field}: {message}" if field else message


def unknown_field_message(name: str, known: Sequence[str], noun: str) -> str:
    """Say that `name` is not a known `noun` (e.g. "recipient field"), suggest the closest, list the known."""
    guess = difflib.get_close_matches(name[:100].lower(), known, n=1, cutoff=0.6)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    return f"'{echo(name)}' is not a {noun}{hint}; the {noun}s are {', '.join(known)}."


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    return "plain text" if isinstance(value, str) else f"a single value ({echo(repr(value))})"


def _load_metadata(raw: Any, limits: FormatLimits, findings: Findings) -> dict[str, Any] | None:
    if raw is None:
        return None
    _, loaded, messages = _load(section_schema("metadata"), raw, ("metadata",), findings)
    too_long = _check_free_text(loaded, ("metadata",), limits, findings)
    return None if messages or too_long else loaded


def _check_free_text(item: Mapping[str, Any], path: Path, limits: FormatLimits, findings: Findings) -> bool:
    """Refuse comments and descriptions over the service's limit; return True if one was refused."""
    refused = False
    for name in FREE_TEXT_FIELDS:
        text = item.get(name)
        if isinstance(text, str) and len(text) > limits.max_comment_chars:
            findings.error((*path, name), f"'{name}' may be at most {limits.max_comment_chars:,} characters "
                           f"(this one has {len(text):,}).")
            refused = True
    return refused


def _while_errors_fit(items: list[Any], section: str, findings: Findings) -> Iterator[tuple[int, Any]]:
    """Yield a section's items with their index until the reported errors are full, then note how many were
    not checked: past that point each item would cost a schema load whose errors are only counted, and one
    line of tens of thousands of bad items took seconds."""
    for index, item in enumerate(items):
        if findings.errors_full:
            findings.stop_checking(section, len(items) - index)
            return
        yield index, item


def _section_items(document: Mapping[str, Any], section: str, findings: Findings) -> list[Any]:
    value = document.get(section)
    if value is None:
        return []
    if not isinstance(value, list):
        findings.error((section,), f"'{section}' must be a list of {section}s (got {_kind(value)}).")
        return []
    return value


def _check_recipient(
    item: Any, path: Path, *, deleting: bool, limits: FormatLimits, findings: Findings
) -> dict[str, Any]:
    given, recipient, messages = _load(section_schema("recipient"), item, path, findings)
    if not isinstance(given, Mapping) or "_schema" in messages:
        return recipient
    _check_free_text(recipient, path, limits, findings)
    kind = recipient.get("type")
    name = given.get("name", "")
    if "type" not in given and not deleting:
        findings.error((*path, "type"), "'type' is required: D2O (open sharing) or D2D (Databricks-to-Databricks).")
    if kind is RecipientType.D2O:
        if "email" not in given and not deleting:
            findings.error((*path, "email"), f"D2O recipient '{name}' needs an 'email' (the contact who gets "
                           "the activation link).")
        if "metastore_id" in given:
            findings.error((*path, "metastore_id"), "'metastore_id' is only for D2D recipients; remove it or "
                           "set type: D2D.")
    elif kind is RecipientType.D2D:
        if "metastore_id" not in given and not deleting:
            findings.error((*path, "metastore_id"), f"D2D recipient '{name}' needs a 'metastore_id' (the "
                           "sharing identifier cloud:region:uuid of their metastore).")
        if recipient.get("allowed_ips"):
            findings.warn((*path, "allowed_ips"), "'allowed_ips' applies only to D2O recipients; it is ignored "
                          "for D2D.")
        if "token_expiry_days" in recipient:
            findings.warn((*path, "token_expiry_days"), "'token_expiry_days' applies only to D2O recipients; "
                          "it is ignored for D2D.")
    _check_authentication(given, recipient, path, findings)
    for index, network in enumerate(recipient.get("allowed_ips", []) if "allowed_ips" not in messages else []):
        if network.endswith("/0"):
            findings.warn((*path, "allowed_ips", index), f"'{network}' allows access from any address; the IP "
                          "access list then restricts nothing.")
    return recipient


def _check_authentication(
    given: Mapping[str, Any], recipient: Mapping[str, Any], path: Path, findings: Findings
) -> None:
    """How a recipient authenticates must fit its type; federation policies need ``oidc_federation``.

    Databricks accepts an IP access list on TOKEN recipients only (RecipientInfo.ip_access_list).
    """
    kind, auth = recipient.get("type"), recipient.get("authentication")
    allowed = {RecipientType.D2D: (Authentication.DATABRICKS,),
               RecipientType.D2O: (Authentication.TOKEN, Authentication.OIDC_FEDERATION)}.get(kind, ())
    if auth is not None and allowed and auth not in allowed:
        findings.error((*path, "authentication"), f"A {kind.value} recipient authenticates by "
                       f"{' or '.join(a.value for a in allowed)}, not {auth.value}.")
    if recipient.get("federation_policies") and auth is not Authentication.OIDC_FEDERATION:
        findings.error((*path, "federation_policies"), "'federation_policies' are only for recipients with "
                       "authentication: oidc_federation.")
    if auth is Authentication.OIDC_FEDERATION:
        if "federation_policies" not in given:
            findings.warn((*path, "authentication"), "An oidc_federation recipient without 'federation_policies' "
                          "cannot read its shares until a policy is added.")
        for name in ("allowed_ips", "token_expiry_days"):
            if given.get(name):
                findings.error((*path, name), f"'{name}' is only for token recipients (oidc_federation has no "
                               "bearer token).")


def _check_share(
    item: Any, path: Path, *, deleting: bool, declared: set[str], limits: FormatLimits, findings: Findings
) -> dict[str, Any]:
    given, share, messages = _load(section_schema("share"), item, path, findings)
    if not isinstance(given, Mapping) or "_schema" in messages:
        return share
    _check_free_text(share, path, limits, findings)
    references: dict[str, None] = {}  # ordered, and a set for the lookups
    for index, reference in enumerate(share.get("recipients", []) if "recipients" not in messages else []):
        name = reference.lower()
        if name in references:
            findings.warn((*path, "recipients", index), f"Recipient '{reference}' is listed twice.")
        elif name not in declared:
            findings.error((*path, "recipients", index), f"Recipient '{reference}' is not declared in this "
                           "share pack's recipient list.")
        else:
            references[name] = None
    share["recipients"] = list(references)
    if "expires_on" in share and "recipients" not in messages:
        check_grant_expiries(share, path, findings)
    objects: list[DataObjectSpec] = share.get("data_objects", [])
    if "data_objects" not in messages:
        _check_data_objects(objects, path, findings)
    if not deleting:
        if not objects and "data_objects" not in messages:
            findings.warn((*path, "data_objects"), f"Share '{share.get('name', '')}' has no data objects.")
        if not share.get("recipients") and "recipients" not in messages:
            findings.warn((*path, "recipients"), f"Share '{share.get('name', '')}' has no recipients.")
    return share


def _check_data_objects(objects: list[DataObjectSpec], path: Path, findings: Findings) -> None:
    names: dict[str, int] = {}
    exposed: dict[str, int] = {}
    for index, data_object in enumerate(objects):
        where = (*path, "data_objects", index)
        first = names.setdefault(data_object.name, index)
        if first != index:
            findings.error(where, f"'{data_object.name}' is already in this share (data_objects[{first}]).")
            continue
        # Recipients see `shared_as`, by default the name without its catalog; two objects may not collide.
        seen_as = data_object.shared_as or data_object.name.split(".", 1)[1]
        clash = exposed.setdefault(seen_as, index)
        if clash != index:
            findings.error(where, f"'{data_object.name}' would be shared as '{seen_as}', like data_objects"
                           f"[{clash}]; give one of them a different 'shared_as'.")
    counts = Counter(data_object.type for data_object in objects)
    for label, (kinds, limit) in SHARE_QUOTAS.items():
        count = sum(counts[kind] for kind in kinds)
        if count > limit:
            findings.error((*path, "data_objects"), f"A share holds at most {limit} {label}; this one has "
                           f"{count}. Split it into several shares.")


def _check_property_partitions(
    recipients: list[dict[str, Any]], shares: list[dict[str, Any]], findings: Findings
) -> None:
    """Warn when a partition shared by recipient property meets a grantee without that property: the
    grantee then sees none of that partition's rows."""
    properties = {r["name"].lower(): r.get("properties", {}) for r in recipients
                  if r and isinstance(r.get("name"), str)}
    for i, share in enumerate(shares):
        for j, data_object in enumerate(share.get("data_objects", []) if share else []):
            if not isinstance(data_object, DataObjectSpec):
                continue  # it failed to load, and its errors are reported
            keys = {v.recipient_property for p in data_object.partitions for v in p if v.recipient_property}
            lacking = sorted(f"{grantee} ({', '.join(sorted(keys - set(properties.get(grantee, {}))))})"
                             for grantee in share.get("recipients", ()) if keys - set(properties.get(grantee, {})))
            if lacking and not all(key.lower().startswith("databricks.") for key in keys):
                findings.warn(("share", i, "data_objects", j, "partitions"), "Shared by recipient property, but "
                              f"these recipients lack it and will see none of it: {', '.join(lacking)}.")


def _check_duplicates(items: list[dict[str, Any]], section: str, findings: Findings) -> None:
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        name = item.get("name") if item else None
        if not name:
            continue
        seen = first.setdefault(name.lower(), index)
        if seen != index:
            findings.error((section, index, "name"), f"The {section} name '{name}' is already used by "
                           f"{section}[{seen}] (names are compared ignoring letter case).")


def _build_recipient(item: dict[str, Any], deleting: bool) -> RecipientSpec:
    # Deleting needs only the name; the type, if not given, does not matter and defaults to D2O.
    metastore_id = item.get("metastore_id")
    return RecipientSpec(
        name=item["name"].lower(),
        type=item.get("type", RecipientType.D2O if deleting else None),
        email=item.get("email"),
        allowed_ips=tuple(item.get("allowed_ips", ())),
        metastore_id=metastore_id.lower() if metastore_id else None,
        comment=item.get("comment"),
        token_expiry_days=item.get("token_expiry_days"),
        expires_on=item.get("expires_on"),
        properties=item.get("properties", {}),
        authentication=item.get("authentication"),
        federation_policies=tuple(item.get("federation_policies", ())),
    )


def _build_share(item: dict[str, Any]) -> ShareSpec:
    return ShareSpec(
        name=item["name"].lower(),
        comment=item.get("comment"),
        recipients=tuple(item.get("recipients", ())),
        data_objects=tuple(item.get("data_objects", ())),
        expires_on=item.get("expires_on", {}),
    )
