// Public API of the mock inference engine. It stands alone: nothing here imports from the rest of src/.
export { startMockEngine, type MockEngineHandle } from './server.ts';
export { MOCK_ENGINE_DEFAULTS, type MockEngineOptions, type EngineKind, type ResponseMode, type PdRoleName, type KvConnectorKind } from './options.ts';
export type { PdStats } from './pd-role.ts';
export { ENGINE_METRIC_NAMES } from './metrics.ts';
export type { MockStats } from './test-hooks.ts';
export type { EngineStats } from './generator.ts';
// The simulator core, for offline experiments on a virtual clock (no HTTP).
export { EngineCore, stepDurationMs, type EngineCoreConfig, type EngineObserver, type EngineSnapshot, type PrefixOracle } from './simulator/engine-core.ts';
export type { Sequence } from './simulator/sequence.ts';
export { VirtualClock, realClock, type Clock } from './simulator/clock.ts';
