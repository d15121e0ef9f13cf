#!/usr/bin/env node
// The coderdb executable: runs the program with this process's arguments and exits with its status.

import { main } from './program.js';

// coderdb supports Node 20 on purpose; the SDK's multi-line notice about its future Node 22
// requirement would otherwise interleave with coderdb's one-line errors.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // A closed pipe (coderdb … | head) is a normal way for output to end.
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const interrupted = () => {
  process.stderr.write('\ninterrupted\n');
  process.exit(130);
};
process.once('SIGINT', interrupted);

main(process.argv).then((code) => {
  process.exitCode = code;
});
