// Kthena's validating-webhook checks for ModelRoute, plus Switchyard's warnings on ambiguous matches.
import { redisAddressProblem } from '../util/redis-address.ts';
import type { FieldPath } from './field-path.ts';
import { errorAt, warningAt, type FieldProblem } from './problem.ts';
import { compileMatchRegex } from './regex.ts';
import type { ModelMatch, ModelRoute, Rule, StringMatch } from './types.ts';

const STRING_MATCH_PRECEDENCE = ['exact', 'prefix', 'regex'] as const;

export function validateModelRoute(route: ModelRoute): FieldProblem[] {
  const { spec } = route;
  const problems: FieldProblem[] = [];
  if (!spec.modelName && spec.loraAdapters.length === 0) {
    problems.push(errorAt(['spec'], 'modelName and loraAdapters cannot both be empty; set at least one'));
  }
  spec.loraAdapters.forEach((adapter, index) => {
    if (adapter === '') problems.push(errorAt(['spec', 'loraAdapters', index], 'LoRA adapter name must not be empty'));
  });
  const isLoraRoute = spec.loraAdapters.length > 0;
  // Kthena's CRD and webhook admit an empty list; such a route matches nothing and hands over to the next one.
  if (spec.rules.length === 0) problems.push(warningAt(['spec', 'rules'], 'no rules: this route matches no request'));
  const redisAddress = spec.rateLimit?.global?.redis.address;
  if (redisAddress === '') {
    problems.push(errorAt(['spec', 'rateLimit', 'global', 'redis', 'address'], 'must not be empty: global rate limits need a Redis "host:port"'));
  } else if (redisAddress !== undefined && redisAddressProblem(redisAddress) !== null) {
    problems.push(errorAt(['spec', 'rateLimit', 'global', 'redis', 'address'], redisAddressProblem(redisAddress)!));
  }
  spec.rules.forEach((rule, index) => problems.push(...validateRule(rule, ['spec', 'rules', index], isLoraRoute)));
  return problems;
}

function validateRule(rule: Rule, path: FieldPath, isLoraRoute: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const targetsPath = [...path, 'targetModels'];
  if (rule.targetModels.length === 0) {
    problems.push(errorAt(targetsPath, 'each rule must have at least one target model'));
  }
  rule.targetModels.forEach((target, index) => {
    const targetPath = [...targetsPath, index];
    const hasServer = Boolean(target.modelServerName);
    const hasProvider = Boolean(target.externalModelProviderName);
    if (hasServer && hasProvider) {
      problems.push(errorAt(targetPath, 'set only one of modelServerName and externalModelProviderName'));
    } else if (!hasServer && !hasProvider) {
      problems.push(errorAt(targetPath, 'set one of modelServerName or externalModelProviderName'));
    }
    if (hasProvider && isLoraRoute) {
      problems.push(
        errorAt([...targetPath, 'externalModelProviderName'], 'lora routes must target modelServerName (this route has loraAdapters)'),
      );
    }
  });
  const totalWeight = rule.targetModels.reduce((sum, target) => sum + target.weight, 0);
  if (rule.targetModels.length > 0 && totalWeight <= 0) {
    problems.push(errorAt(targetsPath, 'total weight must be greater than zero'));
  }
  if (rule.modelMatch) problems.push(...validateModelMatch(rule.modelMatch, [...path, 'modelMatch']));
  return problems;
}

function validateModelMatch(match: ModelMatch, path: FieldPath): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [header, headerMatch] of Object.entries(match.headers ?? {})) {
    problems.push(...validateStringMatch(headerMatch, [...path, 'headers', header]));
  }
  if (match.uri) problems.push(...validateStringMatch(match.uri, [...path, 'uri']));
  return problems;
}

function validateStringMatch(match: StringMatch, path: FieldPath): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const setFields = STRING_MATCH_PRECEDENCE.filter((field) => match[field] !== undefined);
  const used = setFields[0];
  if (setFields.length > 1) {
    // Kthena accepts this and silently uses the first by precedence; say so instead of staying silent.
    const fields = setFields.length === 2 ? `${setFields.join(' and ')} are both` : 'exact, prefix and regex are all';
    problems.push(warningAt(path, `${fields} set; only \`${used}\` is used (precedence: exact, prefix, regex)`));
  }
  if (match.regex !== undefined) {
    const compiled = compileMatchRegex(match.regex);
    // Refused like Kthena's webhook refuses what Go's regexp.Compile refuses (backreferences, lookaround, …).
    if (!compiled.ok) problems.push(errorAt([...path, 'regex'], compiled.error));
  }
  return problems;
}
