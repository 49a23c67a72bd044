// Generates src/generated/requests.js and responses.js (+ .d.ts): static
// protobuf code for the messages the console sends (encoders only) and
// those it reads (decoders only), from the repository's
// proto/settled (the one source of truth) and the google.rpc error details
// the SDK ships. Static code, not protobufjs's reflection (light or full):
// reflection compiles its encoders with `new Function`, which the console's
// content security policy (script-src 'self', no 'unsafe-eval') forbids.
// Only the messages reachable from the ones named below are kept, and only
// the half of the code each needs, to keep the bundle small.
import { createRequire } from 'node:module';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');
const { pbjs } = require('protobufjs-cli');

const at = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));

const SETTLED_PROTO_DIR = at('../../proto/');
const GOOGLE_PROTO_DIR = at('node_modules/@settled/client/proto/');
const FILES = [
  'settled/v1/ledger.proto',
  'settled/v1/admin.proto',
  'settled/v1/alerts.proto',
  'settled/v1/payment.proto',
  'settled/v1/reconciliation.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

/** The requests of the calls the console makes: encoded, never decoded. */
const REQUESTS = [
  'settled.v1.GetInfoRequest',
  'settled.v1.GetCallerRequest',
  'settled.v1.WatchLedgerRequest',
  'settled.v1.GetProgrammeStatsRequest',
  'settled.v1.ListRequest',
  'settled.v1.WatchAlertsRequest',
  'settled.v1.GetPaymentRequest',
  'settled.v1.GetNetPositionsRequest',
];

/** Their answers and the error details: decoded, never encoded. */
const RESPONSES = [
  'settled.v1.GetInfoResponse',
  'settled.v1.GetCallerResponse',
  'settled.v1.LedgerStatus',
  'settled.v1.GetProgrammeStatsResponse',
  'settled.v1.ListProgrammesResponse',
  'settled.v1.ListBanksResponse',
  'settled.v1.WatchAlertsResponse',
  'settled.v1.GetPaymentResponse',
  'settled.v1.GetNetPositionsResponse',
  'google.rpc.Status',
  'google.rpc.ErrorInfo',
  'google.rpc.BadRequest',
  'google.rpc.RetryInfo',
];

const root = new protobuf.Root();
root.resolvePath = (_origin, target) =>
  target.startsWith('google/rpc/') ? GOOGLE_PROTO_DIR + target : SETTLED_PROTO_DIR + target;
root.loadSync(FILES, { keepCase: false });
root.resolveAll();

/** Every type reachable from `roots` through message fields. */
function reachable(roots) {
  const kept = new Set();
  const pending = [...roots];
  while (pending.length > 0) {
    const name = pending.pop();
    if (kept.has(name)) continue;
    kept.add(name);
    const type = root.lookup(name);
    if (type instanceof protobuf.Type) {
      for (const field of type.fieldsArray) {
        if (field.resolvedType !== null) pending.push(field.resolvedType.fullName.slice(1));
      }
    }
  }
  return kept;
}

/** The JSON descriptor of `namespace` with only the `kept` types (and the namespaces holding them). */
function pruned(namespace, prefix, kept) {
  const nested = {};
  for (const child of namespace.nestedArray) {
    const name = prefix === '' ? child.name : `${prefix}.${child.name}`;
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum) {
      if (kept.has(name)) nested[child.name] = child.toJSON();
    } else if (child instanceof protobuf.Namespace && !(child instanceof protobuf.Service)) {
      const inner = pruned(child, name, kept);
      if (Object.keys(inner).length > 0) nested[child.name] = { nested: inner };
    }
  }
  return nested;
}

const buildDir = at('build/');
const generatedDir = at('src/generated/');
await rm(generatedDir, { recursive: true, force: true });
await mkdir(generatedDir, { recursive: true });
await mkdir(buildDir, { recursive: true });

/** Writes src/generated/<name>.js and .d.ts: the types reachable from `roots`, without the code named by `without`. */
async function generate(name, roots, without) {
  const kept = reachable(roots);
  const descriptor = `${buildDir}${name}.json`;
  await writeFile(descriptor, `${JSON.stringify({ nested: pruned(root, '', kept) }, null, 1)}\n`);
  await new Promise((resolve, reject) =>
    pbjs.main(
      [
        '--target', 'static-module',
        '--wrap', 'esm',
        '--root', name,
        '--dts',
        without,
        '--no-create',
        '--no-verify',
        '--no-convert',
        '--no-delimited',
        '--no-typeurl',
        '--no-service',
        '--out', `${generatedDir}${name}.js`,
        descriptor,
      ],
      (error) => (error ? reject(error) : resolve()),
    ),
  );
  console.log(`proto: ${kept.size} types into src/generated/${name}.js`);
}

await generate('requests', REQUESTS, '--no-decode');
await generate('responses', RESPONSES, '--no-encode');
