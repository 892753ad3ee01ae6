// Fair queueing and session boost. The pipeline's admit stage calls `admit(request, signal)` and releases the ticket
// with the engine's usage when the response ends.
export {
  DEFAULT_FAIRNESS_CONFIG, fairnessConfigFromEnv, parseFairnessConfig, type FairnessConfig, type QueueMode,
} from './fairness-config.ts';
export {
  FairQueue, type AdmissionRequest, type AdmissionResult, type AdmissionTicket, type BackendLoad, type FairQueueOptions, type TokenUsage,
} from './fair-queue.ts';
