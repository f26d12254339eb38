import { join } from 'node:path'
import test from 'ava'
import { childJson, FIXTURES, runNodeFile } from './_helpers'

interface Report {
  baseline: number
  afterCreate: number
  rounds: number
  liveAfterGc: number
  pendingAfterGc: number
  created: number
  deletedAfterGc: number
  keptUsable: number
  deletedAfterDispose: number
  liveAtEnd: number
}

const COUNT = 10_000
const KEEP = 100
/** How many dropped objects the GC may still not have collected. */
const SLACK = 10

for (const mode of ['object', 'proxy']) {
  test(`GC safety net: ${COUNT} undisposed ${mode === 'proxy' ? 'proxies' : 'PyObjects'} are released after collection`, (t) => {
    const result = runNodeFile(join(FIXTURES, 'gc-child.js'), { nodeArgs: ['--expose-gc'], args: [mode, String(COUNT), String(KEEP)] })
    t.is(result.status, 0, result.stderr)
    t.is(result.stderr, '')
    const r = childJson<Report>(result)
    t.log(`collected in ${r.rounds} GC round(s)`)
    t.is(r.created, COUNT)
    t.is(r.afterCreate, COUNT)
    // Every dropped handle released its reference; the kept ones did not.
    t.true(r.liveAfterGc >= KEEP && r.liveAfterGc <= KEEP + SLACK, `live refs above baseline after GC: ${r.liveAfterGc}`)
    // Released by the release thread while JS was idle, not by a later call.
    t.is(r.pendingAfterGc, 0)
    t.true(r.deletedAfterGc >= COUNT - KEEP - SLACK && r.deletedAfterGc <= COUNT - KEEP, `__del__ ran ${r.deletedAfterGc} times`)
    t.is(r.keptUsable, KEEP)
    // Disposing the kept handles frees exactly those.
    t.is(r.deletedAfterDispose, r.deletedAfterGc + KEEP)
    t.is(r.liveAtEnd, r.liveAfterGc - KEEP)
  })
}
