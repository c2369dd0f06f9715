"""Maps the top-level stage folders into the single `cdp` import namespace.

`ingest/` is imported as `cdp.ingest`, `identity/` as `cdp.identity`, and so on; subpackages are
found automatically so adding a module never needs an edit here.
"""

from setuptools import find_packages, setup

STAGES = {
    "cdp.ingest": "ingest",
    "cdp.identity": "identity",
    "cdp.profiles": "profiles",
    "cdp.activation": "activation",
    "cdp.schemas": "schemas",
}

packages = ["cdp", *(f"cdp.{sub}" for sub in find_packages("cdp"))]
for name, folder in STAGES.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_packages(folder))]

setup(
    packages=packages,
    package_dir={"cdp": "cdp", **STAGES},
    package_data={
        "cdp.schemas": ["avro/*.avsc", "avro/*.json"],
        "cdp": ["py.typed"],
        "cdp.console": ["static/*"],
        "cdp.demo": ["*.yaml"],
    },
    include_package_data=False,
)
