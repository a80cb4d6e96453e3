"""The command-line model of a clap (derive) binary, read from its Rust sources.

No Rust toolchain is needed: a small tokenizer reads the `#[derive(Parser)]` struct and the
`#[derive(Subcommand)]` enums (and `#[derive(Args)]` structs) of a package, and builds the tree of
subcommands, options and positionals that clap would build. `check_argv` then tells whether an argv
(e.g. a container's `command` + `args`) is one the binary accepts.

What is understood: `#[command(subcommand)]` and `#[command(flatten)]` fields, `#[arg(long, short,
global = true)]` options (with `long = "..."`/`short = 'x'` renames), plain fields as positionals,
unit, struct and single-tuple variants, `#[command(name = "...")]` renames, `Option`/`Vec`/`bool`
field types. Both `#[arg]`/`#[command]` and the older `#[clap]` spellings are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# --- tokens ------------------------------------------------------------------------------------

_PUNCT2 = ("::", "->", "=>", "==", "!=", "<=", ">=", "&&", "||", "..")


@dataclass
class Tok:
    kind: str  # ident | punct | str | char | num | lifetime
    text: str


def tokenize(src: str) -> list[Tok]:
    """Rust tokens without comments; string literals carry their (unescaped enough) value."""
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        m = re.compile(r'b?r(#*)"').match(src, i)
        if m:  # raw string r"..." / r#"..."#
            end = '"' + m.group(1)
            j = src.find(end, m.end())
            j = n if j < 0 else j
            toks.append(Tok("str", src[m.end():j]))
            i = j + len(end)
            continue
        if c == '"' or (c == "b" and src.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            buf = []
            while j < n and src[j] != '"':
                if src[j] == "\\" and j + 1 < n:
                    buf.append(src[j + 1])
                    j += 2
                else:
                    buf.append(src[j])
                    j += 1
            toks.append(Tok("str", "".join(buf)))
            i = j + 1
            continue
        if c == "'":
            m = re.compile(r"'(\\.|[^\\'])'").match(src, i)
            if m:
                toks.append(Tok("char", m.group(1)[-1]))
                i = m.end()
                continue
            m = re.compile(r"'[A-Za-z_][A-Za-z0-9_]*").match(src, i)
            if m:
                toks.append(Tok("lifetime", m.group(0)))
                i = m.end()
                continue
        if c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(src, i)
            toks.append(Tok("ident", m.group(0)))
            i = m.end()
            continue
        if c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_.]*").match(src, i)
            toks.append(Tok("num", m.group(0)))
            i = m.end()
            continue
        two = src[i:i + 2]
        if two in _PUNCT2:
            toks.append(Tok("punct", two))
            i += 2
            continue
        toks.append(Tok("punct", c))
        i += 1
    return toks


_OPEN = {"(": ")", "[": "]", "{": "}"}


def _group_end(toks: list[Tok], i: int) -> int:
    """Index just past the group opened at toks[i]."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "punct" and t.text in _OPEN:
            depth += 1
        elif t.kind == "punct" and t.text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _split_commas(toks: list[Tok]) -> list[list[Tok]]:
    """Splits on commas outside (), [], {} and <> nesting."""
    parts, cur, depth, angle = [], [], 0, 0
    for t in toks:
        if t.kind == "punct":
            if t.text in _OPEN:
                depth += 1
            elif t.text in (")", "]", "}"):
                depth -= 1
            elif t.text == "<":
                angle += 1
            elif t.text == ">":
                angle = max(0, angle - 1)
            elif t.text == "," and depth == 0 and angle == 0:
                parts.append(cur)
                cur = []
                continue
        cur.append(t)
    if cur:
        parts.append(cur)
    return parts


@dataclass
class Attr:
    name: str  # derive, command, arg, clap, ...
    items: list[tuple[str, str | None]]  # (key, value) pairs; value None for bare flags

    def get(self, key: str) -> str | None:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.items)


def _parse_attr(toks: list[Tok]) -> Attr:
    """toks: the tokens inside #[ ... ]."""
    if not toks:
        return Attr("", [])
    name = toks[0].text
    items: list[tuple[str, str | None]] = []
    if len(toks) > 1 and toks[1].text == "(":
        inner = toks[2:_group_end(toks, 1) - 1]
        for part in _split_commas(inner):
            if not part:
                continue
            key = part[0].text
            if len(part) >= 3 and part[1].text == "=":
                rest = part[2:]
                if len(rest) == 1 and rest[0].kind in ("str", "char"):
                    items.append((key, rest[0].text))
                else:
                    items.append((key, " ".join(t.text for t in rest)))
            else:
                items.append((" ".join(t.text for t in part), None))
    return Attr(name, items)


def _take_attrs(toks: list[Tok], i: int) -> tuple[list[Attr], int]:
    attrs = []
    while i + 1 < len(toks) and toks[i].text == "#" and toks[i + 1].text == "[":
        end = _group_end(toks, i + 1)
        attrs.append(_parse_attr(toks[i + 2:end - 1]))
        i = end
    return attrs, i


def _skip_vis(toks: list[Tok], i: int) -> int:
    if i < len(toks) and toks[i].text == "pub":
        i += 1
        if i < len(toks) and toks[i].text == "(":
            i = _group_end(toks, i)
    return i


@dataclass
class Field:
    name: str | None
    ty: str
    attrs: list[Attr]


@dataclass
class Item:
    kind: str  # struct | enum
    name: str
    attrs: list[Attr]
    fields: list[Field] = field(default_factory=list)  # struct
    variants: list[tuple[str, list[Attr], str, list[Field]]] = field(default_factory=list)
    # variant: (name, attrs, shape unit|struct|tuple, fields)

    def derives(self, what: str) -> bool:
        for a in self.attrs:
            if a.name == "derive" and any(k.split("::")[-1].strip() == what for k, _ in a.items):
                return True
        return False


def _parse_fields(toks: list[Tok], named: bool) -> list[Field]:
    out = []
    for part in _split_commas(toks):
        attrs, i = _take_attrs(part, 0)
        i = _skip_vis(part, i)
        if i >= len(part):
            continue
        if named:
            if i + 1 < len(part) and part[i + 1].text == ":":
                out.append(Field(part[i].text, " ".join(t.text for t in part[i + 2:]), attrs))
        else:
            out.append(Field(None, " ".join(t.text for t in part[i:]), attrs))
    return out


def parse_items(src: str) -> list[Item]:
    toks = tokenize(src)
    items: list[Item] = []
    i = 0
    while i < len(toks):
        if toks[i].text == "#" and i + 1 < len(toks) and toks[i + 1].text == "[":
            attrs, j = _take_attrs(toks, i)
            j = _skip_vis(toks, j)
            if j + 1 < len(toks) and toks[j].text in ("struct", "enum") and toks[j + 1].kind == "ident":
                kind, name = toks[j].text, toks[j + 1].text
                k = j + 2
                if k < len(toks) and toks[k].text == "<":  # generics
                    while k < len(toks) and toks[k].text != "{":
                        k += 1
                if k < len(toks) and toks[k].text == "{":
                    end = _group_end(toks, k)
                    body = toks[k + 1:end - 1]
                    item = Item(kind, name, attrs)
                    if kind == "struct":
                        item.fields = _parse_fields(body, named=True)
                    else:
                        for part in _split_commas(body):
                            vattrs, p = _take_attrs(part, 0)
                            if p >= len(part):
                                continue
                            vname = part[p].text
                            rest = part[p + 1:]
                            if rest and rest[0].text == "{":
                                fields = _parse_fields(rest[1:_group_end(rest, 0) - 1], named=True)
                                item.variants.append((vname, vattrs, "struct", fields))
                            elif rest and rest[0].text == "(":
                                fields = _parse_fields(rest[1:_group_end(rest, 0) - 1], named=False)
                                item.variants.append((vname, vattrs, "tuple", fields))
                            else:
                                item.variants.append((vname, vattrs, "unit", []))
                    items.append(item)
                    i = end
                    continue
            i = j if j > i else i + 1
            continue
        i += 1
    return items


# --- the command model -------------------------------------------------------------------------


@dataclass
class Arg:
    name: str
    long: str | None = None
    short: str | None = None
    takes_value: bool = True
    required: bool = False
    multiple: bool = False
    is_global: bool = False
    choices: list[str] | None = None  # a ValueEnum's possible values

    @property
    def positional(self) -> bool:
        return self.long is None and self.short is None


@dataclass
class Command:
    name: str
    args: list[Arg] = field(default_factory=list)
    subcommands: dict[str, "Command"] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return ", ".join(sorted(self.subcommands)) or "(none)"


def kebab(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"-\1", s)
    return s.replace("_", "-").lower()


def _inner_type(ty: str) -> tuple[str, str]:
    """('Option'|'Vec'|'', innermost type name) of a field type as token text."""
    t = ty.replace(" ", "")
    wrapper = ""
    m = re.fullmatch(r"(?:std::option::)?Option<(.*)>", t)
    if m:
        wrapper, t = "Option", m.group(1)
    m = re.fullmatch(r"(?:std::vec::)?Vec<(.*)>", t)
    if m:
        wrapper, t = (wrapper or "Vec"), m.group(1)
        if wrapper == "Option":
            wrapper = "Vec"
    return wrapper, t.split("::")[-1]


def _cli_attrs(f: Field) -> list[Attr]:
    return [a for a in f.attrs if a.name in ("arg", "clap", "command", "structopt")]


_CLAP_DERIVE = re.compile(r"derive\([^)]*\b(Parser|Subcommand|Args|ValueEnum)\b")


class CliModel:
    """All clap items of one package, keyed by type name."""

    def __init__(self, items: list[Item]):
        self.items = {it.name: it for it in items}

    @classmethod
    def from_dir(cls, src_dir: Path) -> "CliModel":
        items: list[Item] = []
        for path in sorted(src_dir.rglob("*.rs")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if not _CLAP_DERIVE.search(text):
                continue
            items.extend(parse_items(text))
        return cls(items)

    def parsers(self) -> list[Item]:
        return [it for it in self.items.values() if it.kind == "struct" and it.derives("Parser")]

    def root_for(self, bin_name: str) -> Command | None:
        parsers = self.parsers()
        if not parsers:
            return None
        chosen = None
        for p in parsers:
            for a in p.attrs:
                if a.name in ("command", "clap") and a.get("name") == bin_name:
                    chosen = p
        if chosen is None:
            chosen = parsers[0] if len(parsers) == 1 else next(
                (p for p in parsers if p.name == "Cli"), parsers[0])
        cmd = Command(bin_name)
        self._fill(cmd, chosen.fields, seen=set())
        cattrs = [a for a in chosen.attrs if a.name in ("command", "clap")]
        if any(a.has("version") for a in cattrs) and not any(
                a.get("disable_version_flag") == "true" for a in cattrs):
            if not any(x.long == "version" for x in cmd.args):
                cmd.args.append(Arg("version", long="version", short="V", takes_value=False))
        return cmd

    def value_enum(self, type_name: str) -> list[str] | None:
        item = self.items.get(type_name)
        if item is None or item.kind != "enum" or not item.derives("ValueEnum"):
            return None
        out = []
        for vname, vattrs, _, _ in item.variants:
            vals = [a for a in vattrs if a.name in ("value", "clap")]
            if any(a.has("skip") for a in vals):
                continue
            out.append(next((a.get("name") for a in vals if a.get("name")), None) or kebab(vname))
        return out

    def _fill(self, cmd: Command, fields: list[Field], seen: set[str]) -> None:
        for f in fields:
            attrs = _cli_attrs(f)
            wrapper, inner = _inner_type(f.ty)
            if any(a.has("subcommand") for a in attrs):
                self._add_subcommands(cmd, inner, seen)
                continue
            if any(a.has("flatten") for a in attrs):
                target = self.items.get(inner)
                if target and target.kind == "struct" and inner not in seen:
                    self._fill(cmd, target.fields, seen | {inner})
                continue
            if any(a.has("skip") for a in attrs) or f.name is None:
                continue
            arg = Arg(f.name)
            for a in attrs:
                if a.has("long"):
                    arg.long = a.get("long") or kebab(f.name)
                if a.has("short"):
                    arg.short = a.get("short") or f.name[0]
                if a.get("global") == "true":
                    arg.is_global = True
                action = a.get("action") or ""
                if "SetTrue" in action or "SetFalse" in action or "Count" in action or "Help" in action:
                    arg.takes_value = False
                if a.has("default_value") or a.has("default_value_t") or a.has("default_values_t"):
                    arg.required = False
            if inner == "bool" and wrapper == "":
                arg.takes_value = False
            if any(a.has("value_enum") for a in attrs) or (
                    self.items.get(inner) is not None and self.items[inner].derives("ValueEnum")):
                arg.choices = self.value_enum(inner)
            arg.multiple = wrapper == "Vec"
            if arg.positional:
                arg.required = wrapper == "" and not any(
                    a.has("default_value") or a.has("default_value_t") for a in attrs)
                arg.name = kebab(f.name).upper().replace("-", "_")
            cmd.args.append(arg)

    def _add_subcommands(self, cmd: Command, enum_name: str, seen: set[str]) -> None:
        enum = self.items.get(enum_name)
        if enum is None or enum.kind != "enum" or enum_name in seen:
            return
        seen = seen | {enum_name}
        for vname, vattrs, shape, fields in enum.variants:
            cattrs = [a for a in vattrs if a.name in ("command", "clap")]
            if any(a.has("skip") or a.has("external_subcommand") for a in cattrs):
                continue
            if any(a.has("flatten") for a in cattrs) and shape == "tuple" and fields:
                self._add_subcommands(cmd, _inner_type(fields[0].ty)[1], seen)
                continue
            name = next((a.get("name") for a in cattrs if a.get("name")), None) or kebab(vname)
            sub = Command(name)
            if shape == "struct":
                self._fill(sub, fields, seen)
            elif shape == "tuple" and fields:
                inner = _inner_type(fields[0].ty)[1]
                target = self.items.get(inner)
                if target is not None and target.kind == "enum":
                    self._add_subcommands(sub, inner, seen)
                elif target is not None:
                    self._fill(sub, target.fields, seen | {inner})
            cmd.subcommands[name] = sub
            for a in cattrs:
                for key in ("alias", "visible_alias"):
                    if a.get(key):
                        cmd.aliases[a.get(key)] = name


TEMPLATE = "TEMPLATE_EXPRESSION"  # stands for a Helm action in an argv read from a template


def is_template(value: str) -> bool:
    """A Helm action or a compose/shell interpolation: a value that cannot be checked statically."""
    return "{{" in value or "${" in value or TEMPLATE in value


def check_argv(root: Command, argv: list[str]) -> str | None:
    """None when the binary accepts argv (argv excludes the binary itself), else why not."""
    cmd = root
    path = [root.name]
    inherited: list[Arg] = []  # global options of the ancestors
    positionals_used = 0
    i = 0
    only_positional = False
    while i < len(argv):
        a = str(argv[i])
        if not only_positional and a == "--":
            only_positional = True
            i += 1
            continue
        if not only_positional and a in ("-h", "--help"):
            return None
        if not only_positional and a.startswith("-") and len(a) > 1 and not is_template(a):
            if a.startswith("--"):
                name, eq, _ = a[2:].partition("=")
                arg = next((x for x in cmd.args + inherited if x.long == name), None)
                shown = "--" + name
            else:
                name, eq = a[1], len(a) > 2
                arg = next((x for x in cmd.args + inherited if x.short == name), None)
                shown = "-" + name
            if arg is None:
                return f"`{' '.join(path)}` has no option {shown}"
            if arg.takes_value:
                if a.startswith("--"):
                    value = a.partition("=")[2] if eq else (argv[i + 1] if i + 1 < len(argv) else None)
                else:
                    value = a[2:].lstrip("=") if eq else (argv[i + 1] if i + 1 < len(argv) else None)
                if value is None:
                    return f"option {shown} of `{' '.join(path)}` needs a value"
                value = str(value)
                if arg.choices and not is_template(value) and value not in arg.choices:
                    return (f"option {shown} of `{' '.join(path)}` takes one of "
                            f"{', '.join(arg.choices)}, not {value!r}")
                if not eq:
                    i += 1
            if arg.name == "version" and not arg.takes_value and cmd is root:
                return None  # prints the version and exits
            i += 1
            continue
        # A positional: a subcommand name first, then the command's own positionals.
        if cmd.subcommands and positionals_used == 0:
            name = cmd.aliases.get(a, a)
            if name in cmd.subcommands:
                inherited = inherited + [x for x in cmd.args if x.is_global]
                cmd = cmd.subcommands[name]
                path.append(name)
                positionals_used = 0
                i += 1
                continue
            if name == "help":
                return None
            if is_template(a):
                return f"`{' '.join(path)}`: subcommand {a!r} is a template expression and cannot be checked"
            return f"`{' '.join(path)}` has no subcommand {a!r} (it has: {cmd.describe()})"
        slots = [x for x in cmd.args if x.positional]
        if positionals_used < len(slots) or (slots and slots[-1].multiple):
            positionals_used += 1
            i += 1
            continue
        return f"`{' '.join(path)}` takes no argument {a!r}"
    if cmd.subcommands:
        return f"`{' '.join(path)}` needs a subcommand (one of: {cmd.describe()})"
    slots = [x for x in cmd.args if x.positional and x.required]
    if positionals_used < len(slots):
        missing = " ".join(f"<{x.name}>" for x in slots[positionals_used:])
        return f"`{' '.join(path)}` needs {missing}"
    return None
