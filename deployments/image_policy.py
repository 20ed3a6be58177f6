"""What a tenant's build may start from, and the Dockerfile the engine is sent.

A build may use the platform's base images, its own service's earlier images and,
where the operator allows (BUILD_IMAGE_PATTERNS), images from a registry; never
another tenant's image, however the reference is spelled. The Dockerfile is parsed
here (dockerfile-parse), every image it names (FROM, COPY --from) is decided and
written back as the full ID of the image decided, and the engine gets only the
Dockerfile written here, one instruction per line:

- the engine never resolves a name the tenant spelled, so no case, ARG, short-ID,
  digest or stage-name trick reaches it, and a line the two parsers might read
  differently (continuations, comments, directives) is never sent;
- a name is judged by the rules alone before the engine is asked about it, so a
  refusal reads the same whether the named image exists or not;
- stages get names of ours, so a stage and an image can never shadow each other;
- ONBUILD is refused in the Dockerfile and in every image used: its triggers
  would run steps nobody checked here.
"""

import io
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from dockerfile_parse import DockerfileParser

from deployments.errors import UserError
from deployments.runtime.base import ImageInfo, Runtime

KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD",
}  # fmt: skip
_STAGE = "m3o-stage-{}"
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_HEX_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?::(?P<op>[-+])(?P<word>[^}$]*))?\}|(?P<plain>[A-Za-z_]\w*))"
)
_APP_LIKE = re.compile(r"^docker\.io/[^/]+-app/s[0-9]+[:@]")  # any installation's app images
_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=\s*(\S*)", re.IGNORECASE | re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Decided:
    line: int
    spelled: str
    image: ImageInfo


def normalize(reference: str) -> str | None:
    """The engine's full name for a reference ("docker.io/library/python:3.12"), or None
    when it is not a valid one. Follows the distribution reference grammar."""
    if len(reference) > 255:
        return None
    name, at, digest = reference.partition("@")
    if at and not _DIGEST.match(digest):
        return None
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            return None
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
        if not _DOMAIN.match(domain):
            return None
    else:
        domain, path = "docker.io", name
    if domain == "index.docker.io":
        domain = "docker.io"
    if not _PATH.match(path):
        return None
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    full = f"{domain}/{path}"
    if tag or not at:
        full += f":{tag or 'latest'}"
    return full + (f"@{digest}" if at else "")


def confine(text: str, service_id: int, runtime: Runtime, on_line: Callable[[str], None]) -> str:
    """The Dockerfile to send the engine: `text` with every image it uses decided and
    written as its ID. Raises UserError, before any step runs, on anything else."""
    rules = _Rules(runtime, service_id)
    written, decided = _rewrite(_instructions(text), rules)
    shown = set()
    for item in decided:
        if item.spelled not in shown:
            shown.add(item.spelled)
            on_line(f"==> Line {item.line}: {item.spelled} is image {item.image.id[7:19]}")
    _check_written(written)
    return "\n".join(written) + "\n"


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, value) of each instruction, continuation lines joined."""
    if any(match.group(1) != "\\" for match in _ESCAPE_DIRECTIVE.finditer(text)):
        raise UserError("The Dockerfile's escape directive is not supported here; use the default '\\'.")
    if text.rstrip().endswith("\\"):
        raise UserError("The Dockerfile's last line ends with '\\', continuing into nothing.")
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    found = []
    for item in parser.structure:
        if item["instruction"] == "COMMENT":
            continue
        line, instruction, value = item["startline"] + 1, item["instruction"], item["value"].strip()
        if instruction not in KNOWN:
            raise UserError(f"Dockerfile line {line}: unknown instruction {instruction[:40]!r}.")
        if _CONTROL.search(value) or value.endswith("\\"):
            raise UserError(f"Dockerfile line {line}: the {instruction} line has characters it may not have.")
        if not value:
            raise UserError(f"Dockerfile line {line}: {instruction} needs an argument.")
        found.append((line, instruction, value))
    return found


def _rewrite(instructions: list[tuple[int, str, str]], rules: "_Rules") -> tuple[list[str], list[Decided]]:
    meta_args: dict[str, str] = {}
    stages: dict[str, int] = {}  # the tenant's stage name -> its index
    count = 0  # stages so far
    written: list[str] = []
    decided: list[Decided] = []
    for line, instruction, value in instructions:
        where = f"Dockerfile line {line}"
        if instruction == "ONBUILD":
            raise UserError(f"{where}: ONBUILD is not supported here.")
        if count == 0 and instruction not in ("ARG", "FROM"):
            raise UserError(f"{where}: a Dockerfile starts with FROM (ARG lines may come before it).")
        if instruction == "ARG" and count == 0:
            for name, default in _arg_defaults(value, where).items():
                meta_args[name] = _substitute(default, meta_args)
        elif instruction == "FROM":
            flags, base, name = _from_parts(value, where)
            base = _expand(base, meta_args, where)
            if base == "scratch":
                target = "scratch"
            elif base.lower() in stages:
                target = _STAGE.format(stages[base.lower()])
            else:
                image = rules.decide(base, where)
                decided.append(Decided(line, base, image))
                target = image.id
            if name:
                stages[name] = count
            value = " ".join([*flags, target, "AS", _STAGE.format(count)])
            count += 1
        elif instruction in ("COPY", "ADD", "RUN"):
            flags, rest = _flags(value)
            kept = []
            for flag in flags:
                key, equals, given = flag[2:].partition("=")
                if instruction == "RUN":
                    raise UserError(
                        f"{where}: RUN {flag.split('=')[0]} needs BuildKit, which builds here do not use."
                    )
                if key.lower() != "from":
                    kept.append(flag)
                    continue
                if instruction == "ADD" or not equals or not given:
                    raise UserError(
                        f"{where}: {instruction} --from needs a stage or an image: --from=<name>."
                    )
                given = _expand(given, meta_args, where)
                if given.lower() in stages:
                    kept.append(f"--from={_STAGE.format(stages[given.lower()])}")
                elif given.isdigit():
                    if int(given) >= count:
                        raise UserError(f"{where}: --from={given} names no earlier stage.")
                    kept.append(f"--from={_STAGE.format(int(given))}")
                else:
                    image = rules.decide(given, where)
                    decided.append(Decided(line, given, image))
                    kept.append(f"--from={image.id}")
            value = " ".join([*kept, rest]) if kept else rest
        written.append(f"{instruction} {value}")
    if count == 0:
        raise UserError("The Dockerfile has no FROM line.")
    return written, decided


def _from_parts(value: str, where: str) -> tuple[list[str], str, str]:
    """FROM [--platform=...] <image> [AS <name>]: (flags, image, stage name or '')."""
    flags, rest = _flags(value)
    for flag in flags:
        if not flag.lower().startswith("--platform="):
            raise UserError(f"{where}: FROM {flag.split('=')[0]} is not supported here.")
    words = rest.split()
    if len(words) == 1:
        return flags, words[0], ""
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise UserError(f"{where}: {words[2]!r} is not a valid stage name.")
        return flags, words[0], name
    raise UserError(f"{where}: FROM takes an image and an optional 'AS <name>'.")


def _flags(value: str) -> tuple[list[str], str]:
    """The leading --flags and the rest. Words split at any Unicode space, a superset of
    what the engine splits at, so every flag the engine would see is seen (and written) here."""
    flags = []
    for word in re.finditer(r"\S+", value):
        if not word.group().startswith("--"):
            return flags, value[word.start() :]
        flags.append(word.group())
    return flags, ""


def _arg_defaults(value: str, where: str) -> dict[str, str]:
    try:
        words = shlex.split(value)
    except ValueError:
        raise UserError(f"{where}: this ARG line cannot be read.") from None
    defaults = {}
    for word in words:
        name, _, default = word.partition("=")
        defaults[name] = default
    return defaults


def _substitute(word: str, args: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        value = args.get(match.group("braced") or match.group("plain"), "")
        if match.group("op") == "-":
            return value or match.group("word")
        if match.group("op") == "+":
            return match.group("word") if value else ""
        return value

    return _VARIABLE.sub(one, word)


def _expand(word: str, args: dict[str, str], where: str) -> str:
    expanded = _substitute(word, args)
    if "$" in expanded or "\\" in expanded or '"' in expanded or "'" in expanded:
        raise UserError(
            f"{where}: {word} uses a form the platform does not read; write the image's name, "
            "or $NAME / ${NAME} / ${NAME:-default} of an ARG above the first FROM."
        )
    if not expanded:
        raise UserError(f"{where}: {word} names no image (its ARG has no value).")
    return expanded


def _check_written(written: list[str]) -> None:
    """What the engine gets must read, line for line, as the instructions decided here."""
    again = DockerfileParser(fileobj=io.BytesIO("\n".join(written).encode())).structure
    lines = [f"{item['instruction']} {item['value']}" for item in again]
    if lines != written:
        raise UserError("The Dockerfile could not be read unambiguously; simplify its line continuations.")


class _Rules:
    """The images this build may use. The engine is asked which images the service and
    the platform have before any name of the tenant's is looked at, and about a tenant's
    name only once the rules allow it."""

    def __init__(self, runtime: Runtime, service_id: int) -> None:
        self.runtime = runtime
        self.own_repository = runtime.app_image_repository(service_id)
        own = runtime.service_images(service_id)
        base = runtime.base_images()
        self.by_name: dict[str, ImageInfo] = {}
        for image in [*base, *own]:
            for tag in image.tags:
                self.by_name[normalize(tag) or tag] = image
        self.ids = {image.id: image for image in [*base, *own]}
        self.base_namespace = (normalize(f"{settings.BASE_IMAGE_PREFIX}/x") or "").rsplit("/", 1)[0] + "/"
        self.app_namespace = (normalize(f"{settings.PLATFORM_NAME}-app/x") or "").rsplit("/", 1)[0] + "/"
        self.configured = {normalize(name) for name in settings.BASE_IMAGES.values()} - {None}
        self.patterns = [_pattern(p) for p in settings.BUILD_IMAGE_PATTERNS]
        for setting in ("PYTHON_IMAGE_TEMPLATE", "GO_IMAGE_TEMPLATE"):  # base images from a registry
            if getattr(settings, setting, ""):
                self.patterns.append(_version_pattern(getattr(settings, setting)))

    def decide(self, spelled: str, where: str) -> ImageInfo:
        image = self._allowed(spelled)
        if image is None:
            raise UserError(self.refusal(spelled, where))
        if image.onbuild:
            raise UserError(f"{where}: {spelled} has ONBUILD triggers, which builds here may not run.")
        return image

    def _allowed(self, spelled: str) -> ImageInfo | None:
        short = _HEX_ID.match(spelled)
        if short:
            found = [i for i in self.ids.values() if i.id[len("sha256:") :].startswith(short.group(1))]
            return found[0] if len(found) == 1 else None
        name = normalize(spelled)
        if name is None:
            return None
        if name in self.by_name:
            return self.by_name[name]
        if name.startswith((self.base_namespace, self.app_namespace)) or _APP_LIKE.match(name):
            # Ours (or, on a shared engine, another installation's) alone: never pulled, never
            # looked up by a tenant's name; only the images listed above.
            return None
        if name in self.configured or any(p.match(name) for p in self.patterns):
            return self.runtime.image_info(name) or self._pull(name, spelled)
        return None

    def _pull(self, name: str, spelled: str) -> ImageInfo:
        image = self.runtime.pull_image(name)
        if image is None:
            raise UserError(f"{spelled} could not be pulled from its registry; check its name and tag.")
        return image

    def refusal(self, spelled: str, where: str) -> str:
        allowed = f"the platform's base images ({settings.BASE_IMAGE_PREFIX}/...), "
        allowed += f"this service's own images ({self.own_repository}:<tag>)"
        if settings.BUILD_IMAGE_PATTERNS:
            allowed += f", or images matching {', '.join(settings.BUILD_IMAGE_PATTERNS)}"
        return f"{where}: {spelled} is not an image this build may use; a build may start from {allowed}."


def _pattern(pattern: str) -> re.Pattern:
    """An operator's pattern over full names, '*' for any run of characters."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def _version_pattern(template: str) -> re.Pattern:
    """PYTHON_IMAGE_TEMPLATE ("python:{version}-slim") as a pattern over full names."""
    sample = normalize(template.replace("{version}", "9.99")) or ""
    return re.compile("^" + re.escape(sample).replace(re.escape("9.99"), r"[0-9]+(?:\.[0-9]+)*") + "$")
