// The baseline: a grpc-js server whose Check answers a constant OK CheckResponse. Same grpc-js,
// proto-loader options and proto files as tollgate, so the difference is tollgate's own work.
// usage: node bench/noop-server.mjs PORT
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { LOADER_OPTIONS, PROTO_ROOT } from '../dist/server/proto.js';

const port = Number(process.argv[2] ?? 0);
const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
const OK = { status: { code: 0, message: '' }, ok_response: { headers: [], headers_to_remove: [] } };

const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
server.addService(pkg['envoy.service.auth.v3.Authorization'], {
  Check: (_call, callback) => callback(null, OK),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(`noop-server: ${err.message}`);
    process.exit(1);
  }
  console.log(`noop-server listening on 127.0.0.1:${bound}`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
