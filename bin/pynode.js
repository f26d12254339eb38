#!/usr/bin/env node
// The `pynode` command (`npx pynode doctor`). The work is in js/doctor.ts.

const args = process.argv.slice(2)
if (args[0] === 'doctor') {
  try {
    process.exitCode = require('../dist/doctor.js').doctorCommand(args.slice(1))
  } catch (e) {
    console.error(`pynode doctor: ${e.message}`)
    process.exitCode = 2
  }
} else {
  console.error('usage: pynode doctor [--python <executable>] [--json]')
  console.error('  shows which Python pynode would load here, and why; exit status 1 when it cannot work')
  process.exitCode = args[0] === undefined || args[0] === '--help' || args[0] === '-h' ? 0 : 2
}
