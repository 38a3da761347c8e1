"""Pure log parsers. `make_format` turns a format name ('combined', 'jsonl', 'regex:...',
'auto' with a sample) into a `Format`: a per-line parser plus what to tell the user."""

from dataclasses import dataclass, field

from logctl.errors import ParseError
from logctl.formats.aws_lb import AwsLbParser
from logctl.formats.combined import RT_UNITS, CombinedParser
from logctl.formats.envoy import EnvoyParser
from logctl.formats.fields import FieldMap
from logctl.formats.haproxy import HaproxyParser
from logctl.formats.jsonl import JsonLinesParser
from logctl.formats.logfmt import LogfmtParser
from logctl.formats.record import LineParser, Record
from logctl.formats.regex import compile_pattern
from logctl.formats.s3 import S3Parser
from logctl.formats.syslog import SyslogParser
from logctl.formats.w3c import W3cParser

NAMES = ("auto", "combined", "common", "haproxy", "aws_lb", "s3", "envoy", "w3c", "jsonl",
         "logfmt", "syslog", "regex:PATTERN")


@dataclass(frozen=True)
class FormatOptions:
    """Parser settings: response-time unit for access logs, field overrides for structured
    logs, and `now` for syslog stamps without a year."""

    rt_unit: str = "auto"
    fields: FieldMap = field(default_factory=FieldMap)
    now: float = 0.0


@dataclass(frozen=True)
class Format:
    """A chosen log format. `name` is canonical (the CLF family is 'combined' or 'common');
    `columnar` names the fast columnar engine that may take it ('clf', 'json' or 'lb')."""

    name: str
    parse_line: LineParser
    spec: str
    options: FormatOptions
    columnar: str | None = None


def make_format(spec: str, options: FormatOptions) -> Format:
    """The Format for an explicit name (not 'auto': see detect.detect_format)."""
    if options.rt_unit not in RT_UNITS:
        raise ParseError(f"unknown response-time unit {options.rt_unit!r}: use auto, s, ms or us")
    if spec.startswith("regex:"):
        return Format("regex", compile_pattern(spec[6:], options.fields), spec, options)
    if spec in ("combined", "common"):
        return Format(spec, CombinedParser(options.rt_unit), spec, options, columnar="clf")
    if spec in ("jsonl", "json"):
        return Format("jsonl", JsonLinesParser(options.fields), spec, options, columnar="json")
    if spec in ("aws_lb", "alb", "elb"):
        return Format("aws_lb", AwsLbParser(), spec, options, columnar="lb")
    if spec == "s3":
        return Format("s3", S3Parser(), spec, options)
    if spec == "envoy":
        return Format("envoy", EnvoyParser(), spec, options)
    if spec in ("w3c", "cloudfront", "iis"):
        return Format("w3c", W3cParser(), spec, options)
    if spec == "haproxy":
        return Format("haproxy", HaproxyParser(), spec, options)
    if spec == "logfmt":
        return Format("logfmt", LogfmtParser(options.fields), spec, options)
    if spec == "syslog":
        return Format("syslog", SyslogParser(options.now), spec, options)
    raise ParseError(f"unknown format {spec!r}: use one of {', '.join(NAMES)}")


__all__ = ["NAMES", "Format", "FormatOptions", "Record", "make_format"]
