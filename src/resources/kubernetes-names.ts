// Kubernetes naming rules (k8s.io/apimachinery/pkg/util/validation), returning a reason or undefined.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function dns1123SubdomainProblem(value: string): string | undefined {
  if (value.length > 253) return 'must be at most 253 characters';
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return "must consist of lowercase letters, digits, '-' and '.', and start and end with a letter or digit (DNS-1123 subdomain)";
  }
  return undefined;
}

export function dns1123LabelProblem(value: string): string | undefined {
  if (value.length > 63) return 'must be at most 63 characters';
  if (!DNS1123_LABEL.test(value)) {
    return "must consist of lowercase letters, digits and '-', and start and end with a letter or digit (DNS-1123 label)";
  }
  return undefined;
}

/** A label key: optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix === '') return `label key ${JSON.stringify(key)} has an empty prefix before "/"`;
    const problem = dns1123SubdomainProblem(prefix);
    if (problem) return `label key prefix ${JSON.stringify(prefix)} ${problem}`;
  }
  if (name === '') return `label key ${JSON.stringify(key)} has an empty name`;
  if (name.length > 63) return `label key ${JSON.stringify(key)}: the name part must be at most 63 characters`;
  if (!QUALIFIED_NAME_PART.test(name)) {
    return `label key ${JSON.stringify(key)} must consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63) return `label value ${JSON.stringify(value)} must be at most 63 characters`;
  if (!QUALIFIED_NAME_PART.test(value)) {
    return `label value ${JSON.stringify(value)} must be empty or consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit`;
  }
  return undefined;
}
