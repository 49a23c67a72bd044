/**
 * A man in the middle: a gRPC server on 127.0.0.1 that forwards the calls a
 * client makes to a real server, and may change their answers on the way,
 * to show that the client refuses what the engine did not sign.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { PROTO_DIR } from '@settled/client';

/** A message as the proto loader decodes it. */
export type Message = Record<string, unknown>;

/** How the proxy changes answers: per `Service/Method`, each answer (or stream item) with its index. */
export type Tampering = Record<string, (message: Message, index: number) => Message>;

export interface Proxy {
  readonly target: string;
  stop(): Promise<void>;
}

const SERVICES = ['LedgerService', 'PaymentService', 'WalletService', 'ReconciliationService', 'AdminService'];

type Definition = grpc.ServiceDefinition & Record<string, grpc.MethodDefinition<Message, Message>>;

/** Forwards every unary and server-streaming call to `upstream`, through `tampering`. */
export async function startProxy(upstream: string, tampering: Tampering): Promise<Proxy> {
  const packageDefinition = protoLoader.loadSync(
    [
      'settled/v1/ledger.proto',
      'settled/v1/payment.proto',
      'settled/v1/wallet.proto',
      'settled/v1/admin.proto',
      'settled/v1/reconciliation.proto',
    ],
    { longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] },
  );
  const root = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    settled: { v1: Record<string, grpc.ServiceClientConstructor> };
  };
  const server = new grpc.Server();
  const clients: grpc.Client[] = [];
  for (const name of SERVICES) {
    const Service = root.settled.v1[name];
    if (Service === undefined) {
      throw new Error(`no service ${name}`);
    }
    const client = new Service(upstream, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    clients.push(client);
    const definition = Service.service as Definition;
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [method, spec] of Object.entries(definition)) {
      const change = tampering[`${name}/${method}`] ?? ((message: Message) => message);
      const forward = client[method];
      if (forward === undefined || spec.requestStream) {
        continue;
      }
      handlers[method] = spec.responseStream
        ? (call: grpc.ServerWritableStream<Message, Message>) => {
            let index = 0;
            const stream = forward.call(client, call.request, call.metadata) as grpc.ClientReadableStream<Message>;
            stream.on('data', (item: Message) => call.write(change(item, index++)));
            stream.on('end', () => call.end());
            stream.on('error', (error: grpc.ServiceError) => call.destroy(error));
            call.on('cancelled', () => stream.cancel());
          }
        : (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
            forward.call(client, call.request, call.metadata, (error: grpc.ServiceError | null, answer?: Message) => {
              if (error !== null || answer === undefined) {
                callback(error);
              } else {
                callback(null, change(answer, 0));
              }
            });
          };
    }
    server.addService(definition, handlers);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return {
    target: `127.0.0.1:${port}`,
    stop: async () => {
      clients.forEach((client) => client.close());
      server.forceShutdown();
    },
  };
}
