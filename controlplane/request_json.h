/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request_json.h - requests on the API socket: one JSON object per line,
 * {"v": 1, "op": "backend.add", "vip": "10.100.0.1:80/tcp",
 *  "backend": "10.0.0.11", "weight": 100}. Field names and how each
 * value is written come from the field table (request.h): a duration is
 * an integer in the unit its name ends with. Replies are
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

/* Adds the fields in bits of r to obj, each under its API name: how
 * replies render VIPs and backends the way requests spell them.
 * 0, or -ENOMEM, or -EINVAL for a value with no JSON form. */
int cp_request_fields_to_json(const struct cp_request *r, __u64 bits, json_t *obj);

/* A health check as JSON: "check" and the fields its type uses
 * (health.targets), and back (sluice-healthd): "check" is required, the
 * other fields of the type take their defaults when absent, fields of
 * other types are ignored; every value goes through its setter. */
int cp_check_to_json(const struct cp_check *c, json_t *obj);
int cp_check_from_json(const json_t *obj, struct cp_check *c, struct cp_error *e);

/* {"v":1,"ok":false,"error":{"field":..,"message":..}}: new reference. */
json_t *cp_reply_error(const struct cp_error *e);
/* {"v":1,"ok":true}: new reference, to which callers add result fields. */
json_t *cp_reply_ok(void);

#endif /* SLUICE_CP_REQUEST_JSON_H */
