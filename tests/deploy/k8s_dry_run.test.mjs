// deploy/k8s passes `kubectl apply --dry-run=client`: every manifest parses, names a kind that
// Kubernetes serves (v1 and apps/v1), and would be created. kubectl needs a cluster to look
// kinds up in even for a client-side dry run, so this test answers its discovery requests (and
// "not found" for every object, so that each is one to create) from a local HTTP server; the
// cluster's OpenAPI schemas are not available offline, so field-level validation is off.
// Exits 77 (skipped) without kubectl.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const manifests = join(root, "deploy", "k8s");

try {
  execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
} catch {
  console.log("needs kubectl: install it to check deploy/k8s");
  process.exit(77);
}

const verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];
const resource = (name, kind) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs });
const discovery = {
  "/api": { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] },
  "/apis": {
    kind: "APIGroupList", apiVersion: "v1",
    groups: [{ name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }], preferredVersion: { groupVersion: "apps/v1", version: "v1" } }],
  },
  "/api/v1": {
    kind: "APIResourceList", groupVersion: "v1",
    resources: [resource("configmaps", "ConfigMap"), resource("services", "Service"), resource("secrets", "Secret"),
                resource("persistentvolumeclaims", "PersistentVolumeClaim")],
  },
  "/apis/apps/v1": {
    kind: "APIResourceList", groupVersion: "apps/v1",
    resources: [resource("deployments", "Deployment"), resource("statefulsets", "StatefulSet"), resource("daemonsets", "DaemonSet")],
  },
};

const server = createServer((req, res) => {
  const path = req.url.split("?")[0];
  const body = discovery[path];
  if (body) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: "not found" }));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const dir = mkdtempSync(join(tmpdir(), "tokengrid-k8s-"));
let failed = false;
try {
  const kubeconfig = join(dir, "config");
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "http://127.0.0.1:${server.address().port}"}}]
users: [{name: local, user: {}}]
contexts: [{name: local, context: {cluster: local, user: local, namespace: default}}]
current-context: local
`);
  // kubectl runs while this process serves it: spawn it asynchronously.
  const out = await new Promise((resolve) => {
    execFile("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), "apply", "--dry-run=client",
                         "--validate=false", "-f", manifests],
             (error, stdout, stderr) => resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
  const expected = readdirSync(manifests).filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => readFileSync(join(manifests, f), "utf8").split(/^---$/m))
    .map((doc) => [doc.match(/^kind: (\w+)/m)?.[1], doc.match(/^  name: ([\w-]+)/m)?.[1]])
    .filter(([kind, name]) => kind && name);
  if (out.code !== 0) {
    console.error(`kubectl apply --dry-run=client -f deploy/k8s failed (${out.code}):\n${out.stderr}`);
    failed = true;
  }
  for (const [kind, name] of expected) {
    const line = new RegExp(`^${kind.toLowerCase()}(\\.[a-z.]+)?/${name} created \\(dry run\\)$`, "m");
    if (!line.test(out.stdout)) {
      console.error(`kubectl did not accept ${kind} ${name}:\n${out.stdout}\n${out.stderr}`);
      failed = true;
    }
  }
  if (!failed) console.log(`kubectl accepts deploy/k8s: ${expected.length} objects\n${out.stdout}`);
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
