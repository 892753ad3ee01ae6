// Builds the scheduler the router runs: the framework picker with the profile from the router configuration file
// (or the defaults), and the file's hot reload. A reload that fails validation changes nothing: the last good
// profile keeps scheduling.
import type { ConfigIssue } from '../../resources/types.ts';
import { FrameworkPicker, type FrameworkPickerOptions } from '../framework/framework-picker.ts';
import type { PluginEnv } from '../framework/types.ts';
import { buildProfile } from './build-profile.ts';
import { defaultSchedulerConfig, type RouterConfigSections } from './router-config.ts';
import { RouterConfigWatcher } from './router-config-watcher.ts';

export interface SchedulerSetupOptions {
  /** Kthena-format router configuration file; absent: the defaults. */
  readonly routerConfigFile?: string;
  readonly reloadDebounceMs: number;
  readonly env: PluginEnv;
  readonly onPluginError?: FrameworkPickerOptions['onPluginError'];
  readonly maxInFlightPerPod?: number;
  /**
   * Validates the file's non-scheduler sections (auth, fairness) at start and on every reload. Errors reject the
   * whole file (the scheduler profile too); otherwise `commit` applies them together with the new profile.
   */
  readonly prepareSections?: (sections: RouterConfigSections, file: string) => Promise<PreparedSections>;
}

export interface PreparedSections {
  readonly issues: readonly ConfigIssue[];
  /** null: rejected (issues hold the errors). */
  readonly commit: (() => void) | null;
}

export interface ReloadEvent {
  readonly accepted: boolean;
  /** Errors when rejected; warnings either way. */
  readonly issues: readonly ConfigIssue[];
}

export type SchedulerSetup =
  | {
      readonly ok: true;
      readonly picker: FrameworkPicker;
      /** Warnings of the file as loaded at start. */
      readonly issues: readonly ConfigIssue[];
      /** Watches the file (no-op without one); `onReload` hears about every reload attempt. Resolves when watching. */
      watch(onReload: (event: ReloadEvent) => void): Promise<void>;
      close(): Promise<void>;
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function setUpScheduler(options: SchedulerSetupOptions): Promise<SchedulerSetup> {
  const { env } = options;
  const pickerOptions: FrameworkPickerOptions = {
    podStates: env.podStates,
    random: env.random,
    onPluginError: options.onPluginError,
    observer: env.observer,
    maxInFlightPerPod: options.maxInFlightPerPod,
  };
  if (options.routerConfigFile === undefined) {
    const picker = new FrameworkPicker(buildProfile(defaultSchedulerConfig(), env), pickerOptions);
    return { ok: true, picker, issues: [], watch: () => Promise.resolve(), close: () => Promise.resolve() };
  }
  const watcher = new RouterConfigWatcher(options.routerConfigFile, options.reloadDebounceMs);
  const first = await watcher.load();
  if (!first.ok) return { ok: false, issues: first.issues };
  const file = options.routerConfigFile;
  const prepare = options.prepareSections ?? null;
  const firstSections = prepare === null ? null : await prepare(first.config.sections, file);
  if (firstSections !== null && firstSections.commit === null) return { ok: false, issues: [...first.issues, ...firstSections.issues] };
  firstSections?.commit?.();
  const picker = new FrameworkPicker(buildProfile(first.config, env), pickerOptions);
  let reloads = Promise.resolve();
  return {
    ok: true,
    picker,
    issues: [...first.issues, ...(firstSections?.issues ?? [])],
    watch(onReload) {
      return watcher.watch((result) => {
        if (!result.ok) return onReload({ accepted: false, issues: result.issues });
        // Sections may read files (API keys): reloads apply in order, each with its profile.
        reloads = reloads.then(async () => {
          const sections = prepare === null ? null : await prepare(result.config.sections, file);
          if (sections !== null && sections.commit === null) return onReload({ accepted: false, issues: [...result.issues, ...sections.issues] });
          picker.setProfile(buildProfile(result.config, env, picker.profile));
          sections?.commit?.();
          onReload({ accepted: true, issues: [...result.issues, ...(sections?.issues ?? [])] });
        }).catch(() => undefined);
      });
    },
    close: () => watcher.close(),
  };
}
