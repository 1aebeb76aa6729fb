"""Discord's payload limits, checked the way the API does: a nested ``errors`` object (code 50035).

Each ``check_*`` adds to a ``FormErrors`` at a path; the REST layer turns a non-empty one
into ``400 {"code": 50035, "message": "Invalid Form Body", "errors": {...}}``.
"""

from __future__ import annotations

import re
from typing import Any

from .models import FLAG_COMPONENTS_V2, UploadedFile

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_V2_COMPONENTS = 40
MAX_ATTACHMENTS = 10
MAX_CHOICES = 25

Path = tuple[str | int, ...]

_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


class FormErrors:
    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}
        self.lines: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.lines)

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
        self.lines.append(f"{'.'.join(map(str, path)) or '<root>'}: {message}")

    def summary(self) -> str:
        return "; ".join(self.lines)

    # Shorthands for the usual checks.
    def max_len(self, path: Path, value: Any, limit: int) -> None:
        if isinstance(value, str | list) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length(self, path: Path, value: Any, low: int, high: int) -> None:
        if value is None or not isinstance(value, str):
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        elif not low <= len(value) <= high:
            self.add(
                path,
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {low} and {high} in length.",
            )

    def required_text(self, path: Path, value: Any, limit: int) -> None:
        if not isinstance(value, str) or not value.strip():
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        else:
            self.max_len(path, value, limit)


def _embed_size(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def check_embeds(errors: FormErrors, path: Path, embeds: Any) -> None:
    if not embeds:
        return
    if not isinstance(embeds, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be an array.")
        return
    errors.max_len(path, embeds, MAX_EMBEDS)
    total = 0
    for i, embed in enumerate(embeds):
        p = (*path, i)
        errors.max_len((*p, "title"), embed.get("title"), 256)
        errors.max_len((*p, "description"), embed.get("description"), 4096)
        fields = embed.get("fields") or []
        errors.max_len((*p, "fields"), fields, 25)
        for j, f in enumerate(fields):
            errors.required_text((*p, "fields", j, "name"), f.get("name"), 256)
            errors.required_text((*p, "fields", j, "value"), f.get("value"), 1024)
        footer = embed.get("footer")
        if footer:
            errors.max_len((*p, "footer", "text"), footer.get("text"), 2048)
        author = embed.get("author")
        if author:
            errors.max_len((*p, "author", "name"), author.get("name"), 256)
        total += _embed_size(embed)
    if total > MAX_EMBED_TOTAL:
        errors.add(
            path,
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


def _check_custom_id(errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    custom_id = comp.get("custom_id")
    errors.length((*path, "custom_id"), custom_id, 1, 100)
    if isinstance(custom_id, str):
        if custom_id in seen:
            errors.add(
                (*path, "custom_id"),
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(custom_id)


def _check_button(errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    style = comp.get("style")
    if style == 5:
        if not comp.get("url"):
            errors.add((*path, "url"), "BASE_TYPE_REQUIRED", "This field is required")
        if "custom_id" in comp:
            errors.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_LINK_CUSTOM_ID",
                "A link button cannot have a custom id",
            )
    elif style != 6:
        _check_custom_id(errors, path, comp, seen)
    errors.max_len((*path, "label"), comp.get("label"), 80)
    if not comp.get("label") and not comp.get("emoji"):
        errors.add(path, "BUTTON_COMPONENT_MISSING_LABEL", "A button needs a label or an emoji")


def _check_select(errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    _check_custom_id(errors, path, comp, seen)
    errors.max_len((*path, "placeholder"), comp.get("placeholder"), 150)
    low, high = comp.get("min_values", 1), comp.get("max_values", 1)
    if not 0 <= low <= 25:
        errors.add((*path, "min_values"), "NUMBER_TYPE_MAX", "Must be between 0 and 25.")
    if not 1 <= high <= 25:
        errors.add((*path, "max_values"), "NUMBER_TYPE_MAX", "Must be between 1 and 25.")
    if comp.get("type") == 3:
        options = comp.get("options") or []
        if not 1 <= len(options) <= 25:
            errors.add(
                (*path, "options"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length."
            )
        for k, opt in enumerate(options):
            errors.length((*path, "options", k, "label"), opt.get("label"), 1, 100)
            errors.length((*path, "options", k, "value"), opt.get("value"), 1, 100)
            errors.max_len((*path, "options", k, "description"), opt.get("description"), 100)


SELECT_TYPES = (3, 5, 6, 7, 8)


def _check_row(errors: FormErrors, path: Path, row: dict[str, Any], seen: set[str]) -> None:
    inner = row.get("components") or []
    if not inner:
        errors.add(
            (*path, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    buttons = [c for c in inner if c.get("type") == 2]
    selects = [c for c in inner if c.get("type") in SELECT_TYPES]
    errors.max_len((*path, "components"), buttons, MAX_ROW_BUTTONS)
    if selects and len(inner) > 1:
        errors.add(
            (*path, "components"),
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for k, comp in enumerate(inner):
        _check_component(errors, (*path, "components", k), comp, seen)


def _check_component(errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    ctype = comp.get("type")
    if ctype == 1:
        _check_row(errors, path, comp, seen)
    elif ctype == 2:
        _check_button(errors, path, comp, seen)
    elif ctype in SELECT_TYPES:
        _check_select(errors, path, comp, seen)
    else:
        # Components V2 containers: check what they hold.
        for k, inner in enumerate(comp.get("components") or ()):
            _check_component(errors, (*path, "components", k), inner, seen)
        accessory = comp.get("accessory")
        if isinstance(accessory, dict):
            _check_component(errors, (*path, "accessory"), accessory, seen)


def _count(components: list[dict[str, Any]]) -> int:
    n = 0
    for comp in components:
        n += 1 + _count(comp.get("components") or [])
        if isinstance(comp.get("accessory"), dict):
            n += 1
    return n


def check_components(errors: FormErrors, path: Path, components: Any, flags: int) -> None:
    if not components:
        return
    if not isinstance(components, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be an array.")
        return
    seen: set[str] = set()
    if flags & FLAG_COMPONENTS_V2:
        if _count(components) > MAX_V2_COMPONENTS:
            errors.add(
                path,
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_V2_COMPONENTS} or fewer in length.",
            )
    else:
        errors.max_len(path, components, MAX_ROWS)
        for i, comp in enumerate(components):
            if comp.get("type") != 1:
                errors.add(
                    (*path, i),
                    "UNION_TYPE_CHOICES",
                    "Value of field 'type' must be one of (1,).",
                )
    for i, comp in enumerate(components):
        _check_component(errors, (*path, i), comp, seen)


def check_message(
    errors: FormErrors,
    path: Path,
    data: dict[str, Any],
    files: list[UploadedFile],
    *,
    size_limit: int,
    create: bool,
) -> None:
    """A message body (create or edit). ``create`` also rejects an empty message (50006)."""
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        errors.add((*path, "content"), "STRING_TYPE_CONVERT", "Could not interpret as string.")
    else:
        errors.max_len((*path, "content"), content, MAX_CONTENT)
    flags = int(data.get("flags") or 0)
    if flags & FLAG_COMPONENTS_V2 and (content or data.get("embeds")):
        errors.add(
            (*path, "content"),
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "content and embeds cannot be used with MessageFlags.IS_COMPONENTS_V2",
        )
    check_embeds(errors, (*path, "embeds"), data.get("embeds"))
    check_components(errors, (*path, "components"), data.get("components"), flags)
    attachments = data.get("attachments")
    if isinstance(attachments, list):
        errors.max_len((*path, "attachments"), attachments, MAX_ATTACHMENTS)
    for f in files:
        if len(f.data) > size_limit:
            errors.add(
                (f.field,),
                "BASE_TYPE_MAX_LENGTH",
                f"File {f.filename!r} is {len(f.data)} bytes; the limit is {size_limit} bytes.",
            )


def is_empty_message(data: dict[str, Any], files: list[UploadedFile]) -> bool:
    return not (
        data.get("content")
        or data.get("embeds")
        or files
        or data.get("components")
        or data.get("sticker_ids")
        or data.get("poll")
    )


def check_modal(errors: FormErrors, path: Path, data: dict[str, Any]) -> None:
    errors.length((*path, "custom_id"), data.get("custom_id"), 1, 100)
    errors.length((*path, "title"), data.get("title"), 1, 45)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        errors.add(
            (*path, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    seen: set[str] = set()
    for i, comp in enumerate(components):
        p = (*path, "components", i)
        ctype = comp.get("type")
        if ctype == 1:
            inner = comp.get("components") or []
            if len(inner) != 1:
                errors.add(
                    (*p, "components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 1 in length.",
                )
            for k, item in enumerate(inner):
                _check_modal_input(errors, (*p, "components", k), item, seen, labelled=False)
        elif ctype == 18:
            errors.length((*p, "label"), comp.get("label"), 1, 45)
            errors.max_len((*p, "description"), comp.get("description"), 100)
            inner = comp.get("component")
            if not isinstance(inner, dict):
                errors.add((*p, "component"), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                _check_modal_input(errors, (*p, "component"), inner, seen, labelled=True)
        elif ctype != 10:
            errors.add(
                (*p, "type"),
                "UNION_TYPE_CHOICES",
                "Value of field 'type' must be one of (1, 10, 18).",
            )


def _check_modal_input(
    errors: FormErrors, path: Path, item: dict[str, Any], seen: set[str], *, labelled: bool
) -> None:
    ctype = item.get("type")
    if ctype in SELECT_TYPES:
        _check_select(errors, path, item, seen)
        return
    if ctype != 4:
        if ctype != 19:  # file upload
            errors.add(
                (*path, "type"), "UNION_TYPE_CHOICES", "Value of field 'type' must be one of (4,)."
            )
        return
    _check_custom_id(errors, path, item, seen)
    if item.get("style") not in (1, 2):
        errors.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
    if labelled:
        if item.get("label"):
            errors.add(
                (*path, "label"),
                "TEXT_INPUT_LABEL_NOT_ALLOWED",
                "A text input inside a label must not have a label",
            )
    else:
        errors.length((*path, "label"), item.get("label"), 1, 45)
    low, high = item.get("min_length"), item.get("max_length")
    if low is not None and not 0 <= low <= 4000:
        errors.add((*path, "min_length"), "NUMBER_TYPE_MAX", "Must be between 0 and 4000.")
    if high is not None and not 1 <= high <= 4000:
        errors.add((*path, "max_length"), "NUMBER_TYPE_MAX", "Must be between 1 and 4000.")
    errors.max_len((*path, "value"), item.get("value"), 4000)
    errors.max_len((*path, "placeholder"), item.get("placeholder"), 100)


def check_choices(errors: FormErrors, path: Path, data: dict[str, Any]) -> None:
    choices = data.get("choices")
    if not isinstance(choices, list):
        errors.add((*path, "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    errors.max_len((*path, "choices"), choices, MAX_CHOICES)
    for i, choice in enumerate(choices):
        errors.length((*path, "choices", i, "name"), choice.get("name"), 1, 100)
        value = choice.get("value")
        if isinstance(value, str):
            errors.max_len((*path, "choices", i, "value"), value, 100)
        elif not isinstance(value, int | float) or isinstance(value, bool):
            errors.add((*path, "choices", i, "value"), "BASE_TYPE_REQUIRED", "Invalid value")


def _check_name(errors: FormErrors, path: Path, name: Any, *, chat_input: bool) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    elif chat_input and (not _COMMAND_NAME.match(name) or name != name.lower()):
        errors.add(
            path,
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name {name!r} is invalid.",
        )


def check_options(errors: FormErrors, path: Path, options: list[dict[str, Any]]) -> None:
    errors.max_len(path, options, 25)
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        p = (*path, i)
        _check_name(errors, (*p, "name"), opt.get("name"), chat_input=True)
        if opt.get("name") in names:
            errors.add(
                (*p, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate name"
            )
        names.add(opt.get("name"))
        errors.length((*p, "description"), opt.get("description"), 1, 100)
        choices = opt.get("choices") or []
        errors.max_len((*p, "choices"), choices, MAX_CHOICES)
        for k, choice in enumerate(choices):
            errors.length((*p, "choices", k, "name"), choice.get("name"), 1, 100)
        if choices and opt.get("autocomplete"):
            errors.add(
                (*p, "autocomplete"),
                "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices.",
            )
        if opt.get("type") in (1, 2):
            check_options(errors, (*p, "options"), opt.get("options") or [])
        elif opt.get("required"):
            if seen_optional:
                errors.add(
                    (*p, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        for key in ("min_length", "max_length"):
            value = opt.get(key)
            if value is not None and not 0 <= value <= 6000:
                errors.add((*p, key), "NUMBER_TYPE_MAX", "Must be between 0 and 6000.")


def check_commands(errors: FormErrors, commands: Any) -> None:
    if not isinstance(commands, list):
        errors.add((), "LIST_TYPE_CONVERT", "Must be an array.")
        return
    counts = {1: 0, 2: 0, 3: 0}
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        counts[ctype] = counts.get(ctype, 0) + 1
        _check_name(errors, (i, "name"), cmd.get("name"), chat_input=ctype == 1)
        key = (ctype, cmd.get("name"))
        if key in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({cmd.get('name')!r})",
            )
        seen.add(key)
        if ctype == 1:
            errors.length((i, "description"), cmd.get("description"), 1, 100)
            check_options(errors, (i, "options"), cmd.get("options") or [])
        elif cmd.get("description"):
            errors.add(
                (i, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
    if counts[1] > 100:
        errors.add((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer chat input commands.")
    for ctype in (2, 3):
        if counts.get(ctype, 0) > 15:
            errors.add((), "BASE_TYPE_MAX_LENGTH", "Must be 15 or fewer context menu commands.")
