"""Write plots/offline.html: DVC's plots page with Vega, Vega-Lite and Vega-Embed inlined, so that
`dvc plots show` renders its charts on a machine without internet (DVC's own page loads them
from a CDN). The versions are the ones dvc-render asks its CDN for; the packages come from the
npm registry (`npm pack`).

    python plots/make_template.py      # or: make plots-template
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGES = {"vega": ("5.20.2", "build/vega.min.js"), "vega-lite": ("5.2.0", "build/vega-lite.min.js"),
            "vega-embed": ("6.18.2", "build/vega-embed.min.js")}
HERE = Path(__file__).resolve().parent
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    <title>ferpipe: DVC plots</title>
    <!-- DVC's page, with Vega, Vega-Lite and Vega-Embed inlined so that the charts render without
         internet. Written by plots/make_template.py; licenses in plots/LICENSES.txt. -->
{scripts}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def main() -> None:
    scripts, licenses = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name, (version, script) in PACKAGES.items():
            packed = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder, check=True,
                                    capture_output=True, text=True).stdout.split()[-1]
            with tarfile.open(Path(folder) / packed) as archive:
                code = archive.extractfile(f"package/{script}").read().decode()
                licenses.append(f"== {name} {version} ==\n" + archive.extractfile("package/LICENSE").read().decode())
            if "</script" in code.lower():
                raise SystemExit(f"{name}: its code holds '</script' and cannot be inlined as is")
            scripts.append(f"<!-- {name} {version} -->\n<script>\n{code}\n</script>")
    (HERE / "offline.html").write_text(PAGE.format(scripts="\n".join(scripts)))
    (HERE / "LICENSES.txt").write_text("\n".join(licenses))


if __name__ == "__main__":
    main()
