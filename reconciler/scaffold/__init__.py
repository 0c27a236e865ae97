"""What `ipass init` writes into a new catalog repository: the tree under `files/`.

The tree is written as it is, except:

* `gitignore` becomes `.gitignore` (a real `.gitignore` here would act on ipass's own
  repository);
* `@IPASS_VERSION@` becomes the version of the running ipass, in the two files that pin it
  (`.github/ipass-requirements.txt` and `.pre-commit-config.yaml`).

`files/.github/workflows/ipass-*.yml` are byte for byte the workflows ipass's own repository
runs (`tests/test_workflows.py` compares them): they install ipass from
`.github/ipass-requirements.txt`, the one file that differs between the two repositories.
`files/catalog/` is a subset of ipass's example catalog, also compared byte for byte.
"""
