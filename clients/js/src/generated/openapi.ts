// Generated from server/openapi.yaml by scripts/generate.mjs (openapi-typescript, pinned in
// package-lock.json). Do not edit: change the contract and run `npm run generate`.

export interface paths {
    "/livez": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness (the process answers). No authentication. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Alive. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @enum {string} */
                            status: "alive";
                        };
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness (can sign and audit now). No authentication. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Ready (the policy check may be `degraded` after a failed reload). */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
                /** @description Not ready (HSM, store or audit down, or shutting down). */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/session-sigs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mint a sessionSigs map for the given nodes and resources.
         * @description Takes the Lit JS SDK's own parameter names. `nodeUrls` are echoed byte for byte as the
         *     map's keys and each message's `nodeAddress`. The expiration is clamped to the policy's
         *     maximum lifetime and the clamp is reported in `policy.clamped`.
         *
         *     `format: v8` mints Naga (JS SDK v8) messages, each with the `maxPrice` its node may
         *     charge: the `threshold` cheapest nodes by `nodePrices` (ties keep the order of
         *     `nodeUrls`; default every node) get a session sig, listed cheapest first, and
         *     `userMaxPrice` (default 2^128 - 1) is split over them as the SDK splits it:
         *     `maxPrice_i = nodePrice_i + (userMaxPrice - sum) / threshold`. Without an expiration a
         *     v8 session lasts 15 minutes from minting (within the policy's maximum), and a new
         *     AuthSig's statement is empty, as in the v8 SDK. A v8 session needs a policy rule that
         *     grants the format, and every chosen node's `maxPrice` within the rule's `max_price`.
         */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["SessionSigsRequest"];
                };
            };
            responses: {
                /** @description The map, ready for `executeJs` / `pkpSign` / `decrypt`. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["SessionSigsResponse"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                404: components["responses"]["Problem"];
                405: components["responses"]["Problem"];
                408: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                429: components["responses"]["Denied"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/policy/evaluate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Dry run of a session-sigs request; nothing is signed, the decision is audited. */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["SessionSigsRequest"];
                };
            };
            responses: {
                /** @description The decision. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Evaluation"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                404: components["responses"]["Problem"];
                408: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Verify a sessionSigs map by the Lit node's rules (optionally the strict ones).
         * @description Each node and request gets a result: valid when that node accepts the session sig,
         *     invalid (with the rule and the node function) when it refuses it for any reason,
         *     malformed entries included. A problem is returned only for a request that cannot be read
         *     (not JSON, sessionSigs not an object, no node to check, an unknown network).
         */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["VerifyRequest"];
                };
            };
            responses: {
                /** @description One result per node and request. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["VerifyResponse"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                408: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The signer profiles this client may use, with public keys and addresses. */
        get: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Profiles. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["KeysResponse"];
                    };
                };
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                503: components["responses"]["Problem"];
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/capacity-delegation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A capacity-delegation AuthSig signed by a profile's wallet (needs its own grant). */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["CapacityRequest"];
                };
            };
            responses: {
                /** @description The AuthSig, for `capabilityAuthSigs`. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["CapacityResponse"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                404: components["responses"]["Problem"];
                408: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/payment-delegation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A payment-delegation AuthSig (v8 / Naga) signed by a profile's wallet (needs its own grant).
         * @description The v8 SDK's `createPaymentDelegationAuthSig`: the profile's wallet pays for the
         *     requests of `delegateeAddresses`, for `scopes`, while each node's signed `maxPrice` is
         *     at most `maxPrice`. Put the AuthSig into a v8 session's `capabilityAuthSigs`.
         */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["PaymentRequest"];
                };
            };
            responses: {
                /** @description The AuthSig, for a v8 session's `capabilityAuthSigs`. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["PaymentResponse"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                404: components["responses"]["Problem"];
                408: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/reload": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The last reload's outcome. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Status. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @enum {string} */
                            status: "idle" | "completed" | "failed";
                            /** Format: date-time */
                            lastOperationTime?: string;
                            lastError?: string;
                        };
                    };
                };
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                503: components["responses"]["Problem"];
            };
        };
        put?: never;
        /** Re-read the policy and token files (needs the `admin` endpoint grant). */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Reloaded. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @enum {string} */
                            status: "completed";
                            clients: number;
                            requestId: string;
                        };
                    };
                };
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                409: components["responses"]["Problem"];
                422: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/rotate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rotate a profile's session key across the fleet now (needs the `admin` endpoint grant).
         * @description For a profile whose session keys rotate across the fleet (a `pkcs11:` URI without
         *     `object=`/`id=`, `session_key_rotation = "fleet"`): one replica, under the store's
         *     session-key lock, makes the next key on the token and publishes it; it becomes current
         *     `session_key_overlap` later on every replica. With `revoke: true` the current key stops
         *     signing at once (on the replica asked at once, on the others within one health
         *     interval) and its successor takes over immediately. Revoking does not invalidate what
         *     the key already signed: its SessionSigs and AuthSigs stay valid at the Lit nodes until
         *     they expire; the key is destroyed on the token once they have.
         */
        post: {
            parameters: {
                query?: never;
                header?: {
                    "x-correlation-id"?: components["parameters"]["CorrelationId"];
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["RotateRequest"];
                };
            };
            responses: {
                /** @description Rotated; the previous key and its published successor. */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RotateResponse"];
                    };
                };
                400: components["responses"]["Problem"];
                401: components["responses"]["Problem"];
                403: components["responses"]["Denied"];
                404: components["responses"]["Problem"];
                409: components["responses"]["Problem"];
                413: components["responses"]["Problem"];
                415: components["responses"]["Problem"];
                503: components["responses"]["Problem"];
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Problem: {
            /**
             * @description https://lit-session-signer.dev/problems/ + one of the slugs below
             * @enum {string}
             */
            type: "https://lit-session-signer.dev/problems/malformed-json" | "https://lit-session-signer.dev/problems/invalid-request" | "https://lit-session-signer.dev/problems/invalid-resource" | "https://lit-session-signer.dev/problems/unsupported-format" | "https://lit-session-signer.dev/problems/format-mismatch" | "https://lit-session-signer.dev/problems/invalid-price" | "https://lit-session-signer.dev/problems/max-price-too-low" | "https://lit-session-signer.dev/problems/unauthenticated" | "https://lit-session-signer.dev/problems/token-in-query" | "https://lit-session-signer.dev/problems/denied" | "https://lit-session-signer.dev/problems/not-found" | "https://lit-session-signer.dev/problems/unknown-signer" | "https://lit-session-signer.dev/problems/method-not-allowed" | "https://lit-session-signer.dev/problems/request-timeout" | "https://lit-session-signer.dev/problems/reload-in-progress" | "https://lit-session-signer.dev/problems/not-rotating" | "https://lit-session-signer.dev/problems/rotation-in-progress" | "https://lit-session-signer.dev/problems/body-too-large" | "https://lit-session-signer.dev/problems/unsupported-media-type" | "https://lit-session-signer.dev/problems/policy-invalid" | "https://lit-session-signer.dev/problems/rate-limited" | "https://lit-session-signer.dev/problems/hsm-unavailable" | "https://lit-session-signer.dev/problems/store-unavailable" | "https://lit-session-signer.dev/problems/store-busy" | "https://lit-session-signer.dev/problems/audit-unavailable" | "https://lit-session-signer.dev/problems/signer-unavailable" | "https://lit-session-signer.dev/problems/timeout" | "https://lit-session-signer.dev/problems/shutting-down" | "https://lit-session-signer.dev/problems/internal";
            title: string;
            status: number;
            detail: string;
            requestId?: string;
            /** @enum {string} */
            decision?: "denied";
            /** @description The deciding policy rule (implicit-deny, endpoints, rate-limit, a rule name, …) */
            rule?: string;
            reasons?: string[];
            /** @description policy-invalid: every error in the file */
            errors?: string[];
        };
        /** @description What JSON.stringify makes of the SDK's resource classes (LitPKPResource, …). */
        Resource: {
            /** @description The id, or * for all */
            resource: string;
            /**
             * @description lit-ratelimitincrease is v7 only, lit-paymentdelegation v8 only
             * @enum {string}
             */
            resourcePrefix: "lit-accesscontrolcondition" | "lit-pkp" | "lit-litaction" | "lit-ratelimitincrease" | "lit-paymentdelegation";
        };
        ResourceAbilityRequest: {
            resource: components["schemas"]["Resource"];
            /** @enum {string} */
            ability: "access-control-condition-decryption" | "access-control-condition-signing" | "pkp-signing" | "lit-action-execution" | "rate-limit-increase-auth" | "lit-payment-delegation";
            /** @description ReCap restriction (nb) object */
            data?: {
                [key: string]: unknown;
            };
        };
        AuthSigJson: {
            sig: string;
            derivedVia: string;
            signedMessage: string;
            address: string;
            algo?: string;
        };
        SessionSigsRequest: {
            nodeUrls: string[];
            resourceAbilityRequests: components["schemas"]["ResourceAbilityRequest"][];
            /**
             * Format: date-time
             * @description Clamped to the policy's max_lifetime; default the maximum
             */
            expiration?: string;
            /** @description A recent block hash (getLatestBlockhash()) */
            nonce: string;
            capabilityAuthSigs?: components["schemas"]["AuthSigJson"][];
            /** @description SIWE domain of a new AuthSig (one line) */
            domain?: string;
            /** @description SIWE statement of a new AuthSig (one line) */
            statement?: string;
            chainId?: number;
            /** @description Signer profile (default: the configured default) */
            signer?: string;
            /**
             * @description v7 (Datil, JS SDK v7) or v8 (Naga, JS SDK v8: a maxPrice per node)
             * @default v7
             * @enum {string}
             */
            format?: "v7" | "v8";
            /** @description v8 only: each node's own price for the operation at hand, by node URL as in nodeUrls (a node not listed costs 0) */
            nodePrices?: {
                [key: string]: components["schemas"]["Price"];
            };
            /** @description v8 only: keep this many of the cheapest nodes (default: every node) */
            threshold?: number;
            /** @description v8 only: the user maximum split over the chosen nodes (default 2^128 - 1) */
            userMaxPrice?: components["schemas"]["Price"];
        };
        /** @description An amount in wei below 2^256: a whole number, or a string of decimal digits or 0x and hex digits */
        Price: string | number;
        SessionSigsResponse: {
            /** @description Node URL → session sig, the SDK's SessionSigsMap (v8: the chosen nodes, cheapest first) */
            sessionSigs: {
                [key: string]: {
                    sig: string;
                    /** @enum {string} */
                    derivedVia: "litSessionSignViaNacl";
                    signedMessage: string;
                    address: string;
                    /** @enum {string} */
                    algo: "ed25519";
                };
            };
            /** @description Session public key, hex */
            sessionKey: string;
            /** Format: date-time */
            expiration: string;
            authSig: {
                /**
                 * @description reused: cached; signed: the wallet signed; waited: another process sharing the store and session key had just signed it
                 * @enum {string}
                 */
                use: "reused" | "signed" | "waited";
                address: string;
                /** Format: date-time */
                expiration: string;
            };
            requestId: string;
            policy: {
                rule: string;
                clamped: {
                    /** Format: date-time */
                    requested?: string;
                    maxLifetimeSeconds?: number;
                } | null;
                reasons: string[];
            };
        };
        Evaluation: {
            /** @enum {string} */
            decision: "approved" | "denied";
            rule: string;
            reasons: string[];
            /** Format: date-time */
            expiration?: string | null;
            clamped?: {
                /** Format: date-time */
                requested?: string;
                maxLifetimeSeconds?: number;
            } | null;
            requestId: string;
        };
        VerifyRequest: {
            /** @description A SessionSigsMap, or one session sig */
            sessionSigs: Record<string, unknown>;
            resourceAbilityRequests: components["schemas"]["ResourceAbilityRequest"][];
            nodeUrls?: string[];
            /** @default false */
            strict?: boolean;
            /** Format: date-time */
            now?: string;
            /**
             * @description Whose node rules: datil reads v7 and v8 messages, naga requires v8 (maxPrice)
             * @default datil
             * @enum {string}
             */
            network?: "datil" | "naga";
            /**
             * @description Datil only: the route the request goes to. unversioned is /web/encryption/sign and /web/signing/access_control_condition (the v7 SDK's decrypt and ACC signing), which fall back to an older, weaker check when the v1 one fails.
             * @default v1
             * @enum {string}
             */
            route?: "v1" | "unversioned";
            /** @description Naga only: the node's current price for the operation (wei), a string of decimal or 0x-hex digits or a non-negative integer; each signed maxPrice must be at least this. */
            nodePrice?: string | number;
        };
        VerifyResponse: {
            valid: boolean;
            results: {
                nodeUrl: string;
                resource: string;
                valid: boolean;
                /** @description When invalid, the refusal: "<rule>: <detail> (<network> node: <file>::<function>)"; when valid only by the unversioned route's fallback, why the v1 check refuses it. */
                error?: string;
                /** @description The rule that refused it (invalid only) */
                rule?: string;
                /** @description The node code that refuses it (absent for the strict policy's own rules) */
                nodeFunction?: string;
                /** @description Datil, unversioned route: accepted only by the route's fallback */
                viaFallback?: boolean;
            }[];
            requestId: string;
        };
        KeysResponse: {
            signers: {
                name: string;
                sessionKey: string;
                /** @enum {string} */
                sessionKeyBackend: "memory" | "pkcs11";
                walletAddress: string;
                /** @enum {string} */
                walletBackend: "memory" | "pkcs11";
                default: boolean;
                rotation?: components["schemas"]["KeyRotation"];
            }[];
            /** @description The ed25519 key that signs audit checkpoints (when configured); `audit verify` checks them against it. */
            auditKey?: {
                publicKey: string;
                /** @enum {string} */
                backend: "memory" | "pkcs11";
            };
            requestId: string;
        };
        /**
         * @description A profile whose session keys rotate across the fleet: its key family as this replica
         *     last read it from the store (once per health interval).
         */
        KeyRotation: {
            /** @description The label prefix; generation N is the token key `<family>-gN` */
            family: string;
            /** @description A key's turn (null: only on request) */
            rotateAfterSeconds?: number | null;
            /** @description How long a new key is published before it takes over */
            overlapSeconds: number;
            /** @description The generation replicas sign with now */
            current?: number | null;
            /** Format: date-time */
            asOf: string;
            keys: components["schemas"]["SessionKeyGeneration"][];
        };
        SessionKeyGeneration: {
            generation: number;
            label: string;
            publicKey: string;
            /**
             * @description generated: published, current from `activatesAt`; active: current; retired: signs
             *     nothing new, destroyed on the token once its last session and AuthSig expired;
             *     destroyed: gone from the token.
             * @enum {string}
             */
            state: "generated" | "active" | "retired" | "destroyed";
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            activatesAt: string;
            /** Format: date-time */
            retiredAt?: string | null;
            /** Format: date-time */
            destroyAfter?: string | null;
            /** Format: date-time */
            destroyedAt?: string | null;
            revoked: boolean;
        };
        RotateRequest: {
            /** @description The profile (default: the default profile) */
            signer?: string;
            /**
             * @description Stop signing with the current key at once
             * @default false
             */
            revoke?: boolean;
        };
        RotateResponse: {
            signer: string;
            revoked: boolean;
            previous?: components["schemas"]["SessionKeyGeneration"] | null;
            next?: components["schemas"]["SessionKeyGeneration"] | null;
            requestId: string;
        };
        CapacityRequest: {
            nonce: string;
            signer?: string;
            capacityTokenId?: string;
            delegateeAddresses?: string[];
            uses?: number | string;
            /** Format: date-time */
            expiration?: string;
            domain?: string;
            statement?: string;
        };
        PaymentRequest: {
            nonce: string;
            /** @description Signer profile whose wallet pays (default: the configured default) */
            signer?: string;
            delegateeAddresses: string[];
            /** @description The most one node's signed maxPrice may be for the delegator to pay */
            maxPrice: components["schemas"]["Price"];
            scopes: ("encryption_sign" | "lit_action" | "pkp_sign" | "sign_session_key")[];
            /**
             * Format: date-time
             * @description Default 7 days, clamped to the grant's max_lifetime
             */
            expiration?: string;
            domain?: string;
            statement?: string;
        };
        PaymentResponse: {
            paymentDelegationAuthSig: components["schemas"]["AuthSigJson"];
            /** Format: date-time */
            expiration?: string | null;
            clamped?: Record<string, unknown> | null;
            requestId: string;
        };
        CapacityResponse: {
            capacityDelegationAuthSig: components["schemas"]["AuthSigJson"];
            /** Format: date-time */
            expiration?: string | null;
            clamped?: Record<string, unknown> | null;
            requestId: string;
        };
        Readiness: {
            /** @enum {string} */
            status: "ready" | "not-ready";
            checks: {
                /** @enum {string} */
                id: "hsm" | "store" | "policy" | "audit";
                /** @enum {string} */
                status: "ok" | "degraded" | "down";
                detail?: string;
            }[];
        };
    };
    responses: {
        /** @description A problem document (503 store-busy with Retry-After 1). */
        Problem: {
            headers: {
                "Retry-After": components["headers"]["RetryAfter"];
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description Denied by policy (403) or by the rate limit (429, with Retry-After, the seconds left in the window), with the deciding rule. */
        Denied: {
            headers: {
                "Retry-After": components["headers"]["RetryAfter"];
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
    };
    parameters: {
        CorrelationId: string;
    };
    requestBodies: never;
    headers: {
        /** @description Seconds (at least 1) after which a retry may succeed. */
        RetryAfter: number;
    };
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
