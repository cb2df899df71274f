"""The committed Python flatbuffers code is exactly what the schema generates (one schema, no hand edits)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_generated_python_matches_schema(tmp_path):
    flatc = Path(sys.executable).parent / "flatc"  # the executorch wheel's flatc, installed in the venv
    subprocess.run([str(flatc), "--python", "--gen-onefile", "-o", str(tmp_path),
                    str(REPO / "backend/serialization/schema.fbs")], check=True)
    generated = (tmp_path / "schema_generated.py").read_text()
    committed = (REPO / "backend/serialization/schema_generated.py").read_text()
    assert generated == committed, "regenerate: .venv/bin/flatc --python --gen-onefile -o backend/serialization " \
                                   "backend/serialization/schema.fbs"


def test_python_and_cpp_agree_on_the_header():
    import re

    from mcuformer.backend.serialization import header

    blob_h = (REPO / "runtime/include/mcuformer/blob.h").read_text()
    assert int(re.search(r"kSchemaVersion = (\d+);", blob_h).group(1)) == header.SCHEMA_VERSION
    assert int(re.search(r"kBlobHeaderSize = (\d+);", blob_h).group(1)) == header.HEADER_SIZE
    magic = re.search(r"kBlobMagic\[4\] = \{'(.)', '(.)', '(.)', '(.)'\}", blob_h).groups()
    assert "".join(magic).encode() == header.MAGIC
