import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeKubeError } from './list-watch.ts';

/** client-node's ApiException: the status code and the response body (a Kubernetes Status, as text). */
const apiException = (code: number, body: unknown): Error => Object.assign(new Error(`HTTP-Code: ${code}\nMessage: Unknown API Status Code!\nBody: ${JSON.stringify(body)}\nHeaders: {…}`), { code, body });

describe('describeKubeError', () => {
  const routes = '/apis/networking.serving.volcano.sh/v1alpha1/modelroutes';

  it('says that a CRD is missing, and how to install it', () => {
    const text = describeKubeError(routes, apiException(404, '404 page not found\n'));
    assert.equal(text, `listing ${routes} answered 404: 404 page not found; is the CRD installed? (kubectl apply -f deploy/crds/)`);
  });

  it("gives the API server's own message of a 403, not the whole response", () => {
    const status = { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'modelroutes.networking.serving.volcano.sh is forbidden: User "system:serviceaccount:x:y" cannot list resource "modelroutes"' };
    const text = describeKubeError(routes, apiException(403, JSON.stringify(status)));
    assert.equal(text, `listing ${routes} answered 403 Forbidden: ${status.message}; deploy/rbac.yaml grants what the router needs`);
    assert.ok(!text.includes('Headers'));
  });

  it('names the cause of a network failure', () => {
    const err = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }) });
    assert.equal(describeKubeError('/api/v1/pods', err), 'cannot reach the Kubernetes API server for /api/v1/pods (fetch failed: connect ECONNREFUSED 127.0.0.1:6443)');
  });

  it('reads 401s and other statuses', () => {
    assert.match(describeKubeError('/api/v1/secrets', apiException(401, { message: 'Unauthorized' })), /answered 401 Unauthorized: Unauthorized; check the kubeconfig's credentials$/);
    assert.equal(describeKubeError('/api/v1/pods', apiException(500, { message: 'etcdserver: request timed out' })), '/api/v1/pods answered 500: etcdserver: request timed out');
  });
});
