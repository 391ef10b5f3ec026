// libFuzzer target: the rewrite-mode control-stream filter driven like the forwarding loop drives it.
// Each input is a FilterScript; FilterDriver runs it twice (once respecting the filter's flow control and checking
// its invariants, once whole against byte-by-byte to check that read boundaries do not matter).
import FuzzSupport

FuzzMain.run { bytes in
    let script = FilterScript(bytes)
    var driver = FilterDriver(script.configuration, completesListenersAtOnce: script.completesListenersAtOnce)
    driver.run(script.steps, respectingFlowControl: true)
    driver.finish()
    FilterDriver.checkReadBoundariesDoNotMatter(script)
}
