# The seed's make targets, backed by the Pulumi stack (cli/ops/cli.ts). STACK defaults to local;
# e.g. `make k8s-local-status STACK=staging`. docs/local-stack.md "Everyday commands" maps old to new.
STACK ?= local
OPS = npm run --silent ops -- --stack $(STACK)

.PHONY: local local-down k8s-kind-create k8s-kind-delete k8s-local-build k8s-local-deploy k8s-local-access \
	k8s-local-status k8s-local-logs k8s-local-shell k8s-local-restart k8s-local-scale k8s-local-image \
	k8s-local-rollback k8s-local-stop promote

local:               ## the whole local set-up in one command (= npm run local)
	npm run local
local-down:          ## destroy the local stack and delete the kind cluster
	npm run local:down
k8s-kind-create:
	$(OPS) kind-create
k8s-kind-delete:
	$(OPS) kind-delete
k8s-local-build:
	$(OPS) build
k8s-local-deploy:
	$(OPS) deploy
k8s-local-access:
	$(OPS) access
k8s-local-status:
	$(OPS) status
k8s-local-logs:
	$(OPS) logs
k8s-local-shell:
	$(OPS) shell
k8s-local-restart:
	$(OPS) restart
k8s-local-scale:     ## make k8s-local-scale REPLICAS=3
	$(OPS) scale $(REPLICAS)
k8s-local-image:     ## make k8s-local-image TAG=1.4.0 [DIGEST=sha256:...]
	$(OPS) image --tag $(TAG) $(if $(DIGEST),--digest $(DIGEST))
k8s-local-rollback:
	$(OPS) rollback
k8s-local-stop:
	$(OPS) stop
promote:             ## make promote: staging's release into Pulumi.production.yaml, production previewed (never deployed)
	npm run promote
