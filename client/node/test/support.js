'use strict';
// Starts a lossd for a test: the binary from $LOSSD_BINARY on
// 127.0.0.1:0 with --port_file, stopped by its PID (SIGTERM).

const {spawn} = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

async function startServer(args = []) {
  const binary = process.env.LOSSD_BINARY;
  if (!binary) throw new Error('set LOSSD_BINARY to a built lossd');
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'lossd-node-'));
  const portFile = path.join(directory, 'port');
  const logFile = path.join(directory, 'lossd.log');
  const log = fs.openSync(logFile, 'w');
  const child = spawn(binary, ['--address=127.0.0.1:0',
                               `--port_file=${portFile}`, ...args],
                      {stdio: ['ignore', log, log]});
  fs.closeSync(log);
  let exited = false;
  child.on('exit', () => { exited = true; });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && !exited) {
    const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
    if (text.endsWith('\n')) {
      const port = Number(text.trim());
      return {
        target: `127.0.0.1:${port}`,
        log: () => fs.readFileSync(logFile, 'utf8'),
        stop: () => new Promise((resolve) => {
          if (exited) return resolve(child.exitCode);
          child.once('exit', (code) => resolve(code));
          child.kill('SIGTERM');
        }),
        cleanup: () => fs.rmSync(directory, {recursive: true, force: true}),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`lossd did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
}

module.exports = {startServer};
