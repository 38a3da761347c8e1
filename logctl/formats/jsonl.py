"""JSON lines: one object per line, fields found through a FieldMap."""

import json
from dataclasses import dataclass, field

from logctl.formats.fields import FieldMap
from logctl.formats.record import Record


@dataclass(frozen=True)
class JsonLinesParser:
    """Parses one JSON object per line; anything else is malformed."""

    fields: FieldMap = field(default_factory=FieldMap)

    def __call__(self, line: bytes) -> Record | None:
        if not line.lstrip().startswith(b"{"):
            return None
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        return self.fields.to_record(obj)
