# lit configuration for cnnc's golden tests: each file's RUN lines drive the
# compiler and FileCheck checks its IR dumps and diagnostics, as in LLVM.
import os

import lit.formats

config.name = "cnnc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".cnn", ".ir"]
config.test_source_root = os.path.dirname(__file__)
# Temporary files (%t) go to the build tree, not next to the tests.
config.test_exec_root = lit_config.params.get("exec_root", os.path.join(config.test_source_root, "Output"))
config.excludes = ["Inputs"]

cnnc = lit_config.params.get("cnnc")
llvm_bin = lit_config.params.get("llvm_bin", "/usr/lib/llvm-14/bin")
config.substitutions.append(("%cnnc", cnnc))
config.substitutions.append(("%examples", os.path.join(os.path.dirname(__file__), "..", "..", "examples")))
for tool in ("FileCheck", "not", "count"):
    config.substitutions.append((r"\b" + tool + r"\b", os.path.join(llvm_bin, tool)))
config.environment["CNNC_CACHE_DIR"] = lit_config.params.get("cache_dir", "")
