// sslmode=verify-full through a tunnel: clients dial 127.0.0.1, so the tunnel negotiates TLS with
// the database itself (PostgreSQL's SSLRequest, then TLS) and verifies the database's real name.
// Against a stand-in server speaking that preamble with a certificate made here by openssl.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorResponse, verifiedTls } from '../../src/transport/tunnel.js';
import { within } from '../helpers/wait.js';

const NAME = 'coder-postgres.abc123.us-east-1.rds.amazonaws.com';

describe('TLS verified inside the tunnel', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let server: Server;
  let port: number;
  let answer = 'S';
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coderdb-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${NAME}`]
        .concat(['-addext', `subjectAltName=DNS:${NAME}`])
        .concat(['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]),
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
    // A database that answers SSLRequest with `answer`, then speaks TLS and echoes.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', (request: Buffer) => {
        expect(request.toString('hex')).toBe('0000000804d2162f');
        socket.write(answer);
        if (answer !== 'S') {
          socket.end();
          return;
        }
        const secure = new TLSSocket(socket, { isServer: true, cert, key });
        secure.on('error', () => {});
        secure.pipe(secure);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const dial = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });

  it('verifies the real host name against the CA and carries data', async () => {
    answer = 'S';
    const secure = await within(verifiedTls(await dial(), { host: NAME, ca: cert }), 10_000, 'TLS');
    const echoed = new Promise<string>((resolve) =>
      secure.once('data', (chunk: Buffer) => resolve(chunk.toString())),
    );
    secure.write('startup');
    expect(await within(echoed, 5000, 'echo')).toBe('startup');
    secure.destroy();
  });

  it('refuses a certificate for another name', async () => {
    answer = 'S';
    await expect(verifiedTls(await dial(), { host: 'db.example.com', ca: cert })).rejects.toMatchObject({
      code: 'tunnel.tls-failed',
      message: expect.stringContaining('db.example.com'),
    });
  });

  it('refuses an untrusted certificate', async () => {
    answer = 'S';
    await expect(verifiedTls(await dial(), { host: NAME })).rejects.toMatchObject({
      code: 'tunnel.tls-failed',
    });
  });

  it('refuses a database that does not offer TLS', async () => {
    answer = 'N';
    await expect(verifiedTls(await dial(), { host: NAME, ca: cert })).rejects.toMatchObject({
      code: 'tunnel.tls-refused',
    });
  });

  it('answers a refused client with a PostgreSQL FATAL it can show', () => {
    const message = errorResponse('connection to the database port failed');
    expect(message[0]).toBe(0x45);
    expect(message.readInt32BE(1)).toBe(message.length - 1);
    expect(message.subarray(5).toString()).toBe(
      'SFATAL\0VFATAL\0C08001\0Mconnection to the database port failed\0\0',
    );
  });
});
