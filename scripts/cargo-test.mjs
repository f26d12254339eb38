#!/usr/bin/env node
// Runs the Rust unit tests. pynode-core's tests link libpython (unlike the addon), so the
// loader must find it: LD_LIBRARY_PATH (DYLD_LIBRARY_PATH on macOS) gets the LIBDIR of the
// python3 that PyO3's build uses (PYO3_PYTHON, else python3 on PATH).
import { execFileSync } from 'node:child_process'

const python = process.env.PYO3_PYTHON || (process.platform === 'win32' ? 'python' : 'python3')
const libdir = execFileSync(python, ['-c', "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"], {
  encoding: 'utf8',
}).trim()
const key = process.platform === 'darwin' ? 'DYLD_LIBRARY_PATH' : 'LD_LIBRARY_PATH'
const env = { ...process.env, [key]: [libdir, process.env[key]].filter(Boolean).join(':') }
execFileSync('cargo', ['test', '--package', 'pynode-core', ...process.argv.slice(2)], { stdio: 'inherit', env })
