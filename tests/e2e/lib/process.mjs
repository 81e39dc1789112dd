// Starting the real programs a browser test drives (corio-cloud and friends, from
// CORIO_BIN_DIR), waiting for them to answer, and stopping them cleanly. Output goes to
// a log file in the test's temporary directory; when a program exits early or does not
// come up, the error carries the end of its log.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { binDir, sleep, waitFor } from './browser.mjs';

/** The path of program `name` in CORIO_BIN_DIR; throws when it is not built. */
export function programPath(name) {
  if (!binDir) throw new Error('CORIO_BIN_DIR is not set: run the test through ctest, or set it to build/asan/bin');
  const p = path.join(binDir, name);
  if (!fs.existsSync(p)) throw new Error(`${p} does not exist: build it first (make build-asan)`);
  return p;
}

/** The last `bytes` of a file, for error messages. */
export function tail(file, bytes = 4000) {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts `command` with `args`, stdout and stderr appended to `tmpDir`/`name`.log.
 * Returns { child, log, exited, stop }: `exited` is null while it runs, else
 * { code, signal }; `stop({ timeoutMs })` sends SIGTERM, waits, escalates to SIGKILL,
 * and resolves to how the program ended.
 */
export function startProgram(command, args, { tmpDir, name = path.basename(command), env = {}, cwd = tmpDir } = {}) {
  if (!tmpDir) throw new Error('startProgram needs a tmpDir for its log');
  const log = path.join(tmpDir, `${name}.log`);
  const fd = fs.openSync(log, 'a');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const proc = {
    child,
    log,
    exited: null,
    async stop({ timeoutMs = 10000 } = {}) {
      if (proc.exited) return proc.exited;
      child.kill('SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (!proc.exited && Date.now() < deadline) await sleep(25);
      if (!proc.exited) {
        child.kill('SIGKILL');
        while (!proc.exited) await sleep(25);
        throw new Error(`${name} did not stop within ${timeoutMs / 1000} s of SIGTERM; log ${log}:\n${tail(log)}`);
      }
      return proc.exited;
    },
  };
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
  });
  child.on('error', (e) => {
    proc.exited = { code: null, signal: null, error: e.message };
  });
  return proc;
}

/**
 * Polls `url` until it answers with `status` (and, when given, a body containing
 * `bodyIncludes`); fails early with the program's log if `proc` exits meanwhile.
 */
export async function waitForHttp(url, { proc = null, status = 200, bodyIncludes = null, timeoutMs = 20000 } = {}) {
  return waitFor(
    async () => {
      if (proc?.exited) {
        throw Object.assign(new Error(`program exited (${JSON.stringify(proc.exited)}) before ${url} answered; log ${proc.log}:\n${tail(proc.log)}`), {
          fatal: true,
        });
      }
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      return res.status === status && (bodyIncludes === null || body.includes(bodyIncludes)) ? body : null;
    },
    { timeoutMs, what: `${url} to answer ${status}${bodyIncludes ? ` with "${bodyIncludes}"` : ''}`, stopOn: (e) => e?.fatal === true },
  );
}
