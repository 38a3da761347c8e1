"""The committed stubs in logctl/pb are what scripts/gen-protos makes from protos/ now."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(ROOT / "scripts" / "gen-protos"), str(tmp_path)], check=True, env=env,
                   cwd=ROOT)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*"))
    assert [str(p) for p in generated] == [
        "logctl/pb/analytics_pb2.py", "logctl/pb/analytics_pb2.pyi",
        "logctl/pb/analytics_pb2_grpc.py", "logctl/pb/loki_pb2.py", "logctl/pb/loki_pb2.pyi",
        "logctl/pb/storage_pb2.py",
        "logctl/pb/storage_pb2.pyi", "logctl/pb/storage_pb2_grpc.py"]
    stale = [str(p) for p in generated
             if (tmp_path / p).read_bytes() != (ROOT / p).read_bytes()]
    assert not stale, f"stale stubs, run scripts/gen-protos: {stale}"
