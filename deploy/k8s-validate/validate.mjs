// Offline schema validation of rendered Kubernetes manifests (multi-document
// YAML), in two independent ways:
//   1. kubernetes-models: `new Kind(object).validate()` against the
//      OpenAPI schema: missing required fields, wrong types, bad enums.
//   2. kubernetes-types + tsc: each document as a typed literal, so that
//      TypeScript's excess-property check rejects unknown fields (such as
//      `replica:`), which the JSON schemas allow.
//
//   node validate.mjs RENDERED.yaml            exit 0 when every document passes
//   node validate.mjs --self-test RENDERED.yaml  exit 0 when known mistakes
//                                              planted in the Deployment are caught
//   node validate.mjs --render-only K8S_DIR    kubectl-free rendering (see render())

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));

// apiVersion -> the module folder of each package ("" group is core).
function modelsModule(apiVersion) {
  return `kubernetes-models/${apiVersion}`;
}
function typesModule(apiVersion) {
  const [group, version] = apiVersion.includes("/")
    ? apiVersion.split("/")
    : ["core", apiVersion];
  return `kubernetes-types/${group.replace(/\.k8s\.io$/, "")}/${version}`;
}

async function validateWithModels(documents) {
  const errors = [];
  for (const [index, document] of documents.entries()) {
    const where = `document ${index} (${document.kind} ${document.metadata?.name})`;
    let Kind;
    try {
      Kind = (await import(`${modelsModule(document.apiVersion)}/${document.kind}`))[
        document.kind
      ];
    } catch {
      errors.push(`${where}: no schema for ${document.apiVersion} ${document.kind}`);
      continue;
    }
    try {
      new Kind(document).validate();
    } catch (error) {
      errors.push(`${where}: ${error.message}`);
    }
  }
  return errors;
}

function validateWithTypes(documents) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "lossd-k8s-types-"));
  try {
    const lines = [];
    documents.forEach((document, index) => {
      lines.push(
        `import type { ${document.kind} as Kind${index} } from "${typesModule(document.apiVersion)}";`,
        `export const document${index}: Kind${index} = ${JSON.stringify(document, null, 2)};`,
      );
    });
    fs.writeFileSync(path.join(work, "manifests.ts"), lines.join("\n") + "\n");
    fs.writeFileSync(
      path.join(work, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: "commonjs",
          moduleResolution: "node",
          types: [],
          baseUrl: ".",
          paths: {
            "kubernetes-types/*": [path.join(here, "node_modules/kubernetes-types/*")],
          },
        },
        files: ["manifests.ts"],
      }),
    );
    try {
      execFileSync(
        process.execPath,
        [path.join(here, "node_modules/typescript/bin/tsc"), "-p", work, "--pretty", "false"],
        { encoding: "utf8", stdio: "pipe" },
      );
      return [];
    } catch (error) {
      // tsc names the line; say which document that line is in.
      const source = fs.readFileSync(path.join(work, "manifests.ts"), "utf8").split("\n");
      return (error.stdout || error.message)
        .split("\n")
        .filter((line) => line.trim())
        .map((line) => {
          const match = line.match(/manifests\.ts\((\d+),/);
          if (!match) return line;
          let index = "?";
          for (let at = Number(match[1]) - 1; at >= 0; at--) {
            const found = source[at].match(/^export const document(\d+)/);
            if (found) { index = found[1]; break; }
          }
          const field = source[Number(match[1]) - 1]?.trim();
          return `document ${index}: ${line.replace(/^.*?error /, "error ")} [at ${field}]`;
        });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// A kubectl-free rendering of this project's kustomization: its resources,
// the configMapGenerator literals (without kustomize's name hash), labels
// (into selectors too with includeSelectors) and images. Only what
// deploy/k8s/kustomization.yaml uses is supported; anything else fails.
function render(directory) {
  const kustomization = YAML.parse(
    fs.readFileSync(path.join(directory, "kustomization.yaml"), "utf8"),
  );
  const known = new Set([
    "apiVersion", "kind", "labels", "resources", "configMapGenerator", "images",
  ]);
  for (const key of Object.keys(kustomization)) {
    if (!known.has(key)) throw new Error(`render: unsupported kustomization field ${key}`);
  }
  const documents = [];
  for (const generator of kustomization.configMapGenerator ?? []) {
    const data = {};
    for (const literal of generator.literals ?? []) {
      const at = literal.indexOf("=");
      data[literal.slice(0, at)] = literal.slice(at + 1);
    }
    documents.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: generator.name }, data });
  }
  for (const resource of kustomization.resources ?? []) {
    const text = fs.readFileSync(path.join(directory, resource), "utf8");
    for (const document of YAML.parseAllDocuments(text)) documents.push(document.toJSON());
  }
  for (const { pairs, includeSelectors } of kustomization.labels ?? []) {
    for (const document of documents) {
      document.metadata.labels = { ...document.metadata.labels, ...pairs };
      const spec = document.spec ?? {};
      const template = spec.template?.metadata;
      if (template) template.labels = { ...template.labels, ...pairs };
      if (!includeSelectors) continue;
      if (document.kind === "Service" && spec.selector) Object.assign(spec.selector, pairs);
      if (spec.selector?.matchLabels) Object.assign(spec.selector.matchLabels, pairs);
      for (const constraint of spec.template?.spec?.topologySpreadConstraints ?? []) {
        if (constraint.labelSelector?.matchLabels) {
          Object.assign(constraint.labelSelector.matchLabels, pairs);
        }
      }
    }
  }
  for (const image of kustomization.images ?? []) {
    for (const document of documents) {
      for (const container of document.spec?.template?.spec?.containers ?? []) {
        if (container.image === image.name || container.image.startsWith(`${image.name}:`)) {
          container.image = `${image.newName ?? image.name}:${image.newTag}`;
        }
      }
    }
  }
  return documents.map((document) => YAML.stringify(document)).join("---\n");
}

// Mistakes each check must catch, planted one at a time in the Deployment, so
// that a validator that silently checks nothing fails the test.
const plantedMistakes = [
  ["unknown field spec.replica", "types", (d) => { d.spec.replica = 3; }],
  ["unknown field in a probe", "types",
    (d) => { d.spec.template.spec.containers[0].readinessProbe.grpc.serviceName = "x"; }],
  ["container without a name", "models", (d) => { delete d.spec.template.spec.containers[0].name; }],
  ["replicas as a string", "models", (d) => { d.spec.replicas = "three"; }],
];

async function selfTest(documents) {
  let failures = 0;
  for (const [what, by, plant] of plantedMistakes) {
    const copy = structuredClone(documents);
    const deployment = copy.find((d) => d.kind === "Deployment");
    plant(deployment);
    const errors = by === "models" ? await validateWithModels(copy) : validateWithTypes(copy);
    const caught = errors.length > 0;
    if (!caught) failures++;
    console.log(`${caught ? "ok  " : "FAIL"} planted ${what}: ${caught ? `caught by ${by}: ${errors[0].slice(0, 160)}` : `not caught by ${by}`}`);
  }
  return failures === 0 ? 0 : 1;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--render-only" && args.length === 2) {
    process.stdout.write(render(args[1]));
    return 0;
  }
  const selfTesting = args[0] === "--self-test";
  if (selfTesting) args.shift();
  if (args.length !== 1) {
    console.error("usage: node validate.mjs [--self-test] RENDERED.yaml | --render-only K8S_DIR");
    return 2;
  }
  const documents = YAML.parseAllDocuments(fs.readFileSync(args[0], "utf8"))
    .map((document) => document.toJSON())
    .filter((document) => document !== null);
  if (selfTesting) return selfTest(documents);
  if (documents.length === 0) {
    console.error("no documents");
    return 1;
  }
  const modelErrors = await validateWithModels(documents);
  const typeErrors = validateWithTypes(documents);
  for (const error of [...modelErrors, ...typeErrors]) console.log(`  ${error}`);
  console.log(
    `${documents.length} documents (${documents.map((d) => d.kind).join(", ")}): ` +
      `${modelErrors.length} schema errors (kubernetes-models), ` +
      `${typeErrors.length} type errors (kubernetes-types + tsc)`,
  );
  return modelErrors.length + typeErrors.length === 0 ? 0 : 1;
}

process.exitCode = await main();
