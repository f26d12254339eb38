import test from 'ava'
import { python } from '../js/index'

test('probe', (t) => {
  t.is(python.eval('1+1'), 2)
})
