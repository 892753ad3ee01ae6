// Public API of the mock inference engine. It stands alone: nothing here imports from the rest of src/.
export { startMockEngine, type MockEngineHandle } from './server.ts';
export { MOCK_ENGINE_DEFAULTS, type MockEngineOptions, type EngineKind, type ResponseMode } from './options.ts';
export { ENGINE_METRIC_NAMES } from './metrics.ts';
