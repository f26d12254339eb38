// Inside the embedded Python, sys.executable is a real python (not node), so subprocess and
// multiprocessing's spawn start Python children; sys.argv is [''] as in an interactive python
// (issue 5). Runs under every CPython of test:matrix.
import test from 'ava'
import { python } from '../js/index'
import { VENV } from './_helpers'

test('sys.executable is the python discovery chose, sys.argv is [""]', (t) => {
  t.is(python.eval('__import__("sys").executable'), python.info.executable)
  t.true(python.info.executable.startsWith(VENV), python.info.executable)
  t.deepEqual(python.eval('__import__("sys").argv'), [''])
})

test('subprocess.run([sys.executable, ...]) runs that python, in the same venv', (t) => {
  const out = python.eval(
    '__import__("subprocess").run([__import__("sys").executable, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True).stdout',
  )
  t.is(String(out).trim(), python.info.prefix)
})

test('multiprocessing with the spawn start method runs work in child pythons', (t) => {
  // Only importable callables cross to a spawned child: a module made by python.module() exists
  // in this interpreter alone, so the work is a stdlib function.
  const m = python.module(
    'pynode_mp_check',
    `
import math, multiprocessing, os

def run():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(math.factorial, [3, 4, 5])
        child = pool.apply(os.getpid)
        pool.close()
        pool.join()
    return results, child != os.getpid()
`,
  )
  t.deepEqual(m.callMethod('run'), [[6, 24, 120], true])
})
