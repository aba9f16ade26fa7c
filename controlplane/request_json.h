/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request_json.h - requests on the API socket: one JSON object per line,
 * {"v": 1, "op": "backend.add", "vip": "10.100.0.1:80/tcp",
 *  "backend": "10.0.0.11", "weight": 100}. Field names are the long
 * option names of cmd.h with '-' written as '_'. Replies are
 * {"v": 1, "ok": true, ...} or {"v": 1, "ok": false, "error":
 * {"field": "weight", "message": "..."}}.
 */
#ifndef SLUICE_CP_REQUEST_JSON_H
#define SLUICE_CP_REQUEST_JSON_H

#include <jansson.h>
#include "request.h"

/* Decodes one request object. Unknown fields, wrong types, a missing or
 * newer "v" are errors (-EINVAL, e says which field). */
int cp_request_from_json(const json_t *obj, struct cp_request *r, struct cp_error *e);

/* Encodes a request (only the fields it carries; for VIP_ADD and
 * BACKEND_ADD also every field that differs from its default). New
 * reference, or NULL with errno ENOMEM, or EINVAL for a request that has
 * no JSON form (unknown op, a value cp_request_from_json would refuse). */
json_t *cp_request_to_json(const struct cp_request *r);

/* {"v":1,"ok":false,"error":{"field":..,"message":..}}: new reference. */
json_t *cp_reply_error(const struct cp_error *e);
/* {"v":1,"ok":true}: new reference, to which callers add result fields. */
json_t *cp_reply_ok(void);

#endif /* SLUICE_CP_REQUEST_JSON_H */
