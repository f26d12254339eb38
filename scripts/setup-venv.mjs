#!/usr/bin/env node
// Creates ./.venv (the test and demo virtualenv) with the packages in
// __test__/requirements.txt, from PyPI. Uses PYNODE_VENV_PYTHON, else python3 on PATH.
// Does nothing if the venv exists and its packages import.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const venv = join(root, '.venv')
const py = process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python')
const base = process.env.PYNODE_VENV_PYTHON || (process.platform === 'win32' ? 'python' : 'python3')
const run = (cmd, args) => {
  console.error(`> ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })
}
const ready = () => {
  try {
    execFileSync(py, ['-c', 'import numpy'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

if (existsSync(py) && ready()) process.exit(0)
if (!existsSync(py)) run(base, ['-m', 'venv', venv])
run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', join(root, '__test__', 'requirements.txt')])
