/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request_json.c - requests and replies on the API socket (request_json.h).
 *
 * The decoder is strict on purpose: the API is what scripts and
 * sluice-healthd program against, and a field silently ignored (a typo,
 * a type the client got wrong, a newer client's field) is a change the
 * caller believes made and was not. Values go through request.c's
 * setters, so the API accepts exactly what the command line accepts.
 *
 * No state; every function may be called from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "request_json.h"

/* How a field's kind is written in JSON: durations are integers in the
 * unit their name says ("check_interval_ms"), lists are arrays. */
enum jkind {
	J_STR,		/* cp_request_set_text */
	J_INT,		/* cp_request_set_num */
	J_BOOL,		/* cp_request_set_num, 0/1 */
	J_STRS,		/* array of strings, each through cp_request_set_text */
};

static enum jkind jkind_of(const struct cp_field *f)
{
	switch (f->kind) {
	case CP_KIND_NUM:
	case CP_KIND_DURATION:
		return J_INT;
	case CP_KIND_BOOL:
		return J_BOOL;
	case CP_KIND_IFNAMES:
		return J_STRS;
	default:
		return J_STR;
	}
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* --- Decoding ---------------------------------------------------------- */

static int decode_version(const json_t *obj, struct cp_error *e)
{
	const json_t *v = json_object_get(obj, "v");
	json_int_t n;

	if (!v)
		return cp_error_set(e, -EINVAL, "v", "missing API version \"v\" (this sluiced speaks %d)",
				    CP_API_VERSION);
	if (!json_is_integer(v))
		return cp_error_set(e, -EINVAL, "v", "\"v\" must be an integer, not %s", type_name(v));
	n = json_integer_value(v);
	if (n > CP_API_VERSION)
		return cp_error_set(e, -EINVAL, "v",
				    "API version %lld is newer than this sluiced speaks (%d)",
				    (long long)n, CP_API_VERSION);
	if (n < 1)
		return cp_error_set(e, -EINVAL, "v", "bad API version %lld", (long long)n);
	return 0;
}

static int decode_op(const json_t *obj, enum cp_op *op, struct cp_error *e)
{
	const json_t *v = json_object_get(obj, "op");

	if (!v)
		return cp_error_set(e, -EINVAL, "op", "missing \"op\"");
	if (!json_is_string(v))
		return cp_error_set(e, -EINVAL, "op", "\"op\" must be a string, not %s", type_name(v));
	*op = cp_op_from_name(json_string_value(v));
	if (*op == CP_OP_NONE || strlen(json_string_value(v)) != json_string_length(v))
		return cp_error_set(e, -EINVAL, "op", "unknown op '%.32s'", json_string_value(v));
	return 0;
}

/* The C string of a JSON string, refusing an embedded NUL: the setters
 * would see only what precedes it. */
static const char *string_of(const json_t *v, const char *name, struct cp_error *e)
{
	const char *s = json_string_value(v);

	if (!s) {
		cp_error_set(e, -EINVAL, name, "'%s' must be a string, not %s", name, type_name(v));
		return NULL;
	}
	if (strlen(s) != json_string_length(v)) {
		cp_error_set(e, -EINVAL, name, "'%s' contains a NUL character", name);
		return NULL;
	}
	return s;
}

static int decode_strings(struct cp_request *r, const struct cp_field *f, const json_t *v,
			  struct cp_error *e)
{
	char name[32];
	size_t i;
	json_t *s;

	if (!json_is_array(v))
		return cp_error_set(e, -EINVAL, f->api, "'%s' must be an array of strings, not %s",
				    f->api, type_name(v));
	if (!json_array_size(v))
		return cp_error_set(e, -EINVAL, f->api, "'%s' must name at least one", f->api);
	json_array_foreach(v, i, s) {
		const char *str;
		int err;

		snprintf(name, sizeof(name), "%s[%zu]", f->api, i);
		str = string_of(s, name, e);
		if (!str)
			return -EINVAL;
		err = cp_request_set_text(r, f->bit, str, f->api, e);
		if (err)
			return err;
	}
	return 0;
}

static int decode_value(struct cp_request *r, const struct cp_field *f, const json_t *v,
			struct cp_error *e)
{
	const char *s;

	switch (jkind_of(f)) {
	case J_STR:
		s = string_of(v, f->api, e);
		return s ? cp_request_set_text(r, f->bit, s, f->api, e) : -EINVAL;
	case J_INT:
		if (!json_is_integer(v))
			return cp_error_set(e, -EINVAL, f->api, "'%s' must be an integer, not %s",
					    f->api, type_name(v));
		return cp_request_set_num(r, f->bit, json_integer_value(v), f->api, e);
	case J_BOOL:
		if (!json_is_boolean(v))
			return cp_error_set(e, -EINVAL, f->api, "'%s' must be true or false, not %s",
					    f->api, type_name(v));
		return cp_request_set_num(r, f->bit, json_is_true(v), f->api, e);
	case J_STRS:
		return decode_strings(r, f, v, e);
	}
	return -EINVAL;
}

static int decode_field(struct cp_request *r, const char *key, size_t klen, const json_t *v,
			struct cp_error *e)
{
	struct cp_op_fields of;
	const struct cp_field *f;

	if ((klen == 1 && key[0] == 'v') || (klen == 2 && !memcmp(key, "op", 2)))
		return 0;
	cp_op_fields(r->op, &of);
	if (strlen(key) != klen)
		return cp_error_set(e, -EINVAL, key, "field name '%.32s' contains a NUL character",
				    key);
	f = cp_field_by_api(key, klen);
	if (!f)
		return cp_error_set(e, -EINVAL, key, "unknown field '%.48s'", key);
	if (!(of.allowed & f->bit))
		return cp_error_set(e, -EINVAL, key, "field '%s' does not apply to %s", key,
				    cp_op_name(r->op));
	return decode_value(r, f, v, e);
}

/* Required fields, and SETs that change nothing. */
static int check_fields(const struct cp_request *r, struct cp_error *e)
{
	struct cp_op_fields of;
	__u64 missing;
	char list[256] = "";
	size_t i;

	cp_op_fields(r->op, &of);
	missing = of.required & ~r->fields;
	if (missing) {
		const char *name = cp_field_of(missing & -missing)->api;

		return cp_error_set(e, -EINVAL, name, "%s needs '%s'", cp_op_name(r->op), name);
	}
	if (!of.one_of || (r->fields & of.one_of))
		return 0;
	for (i = 0; i < cp_n_fields; i++)
		if (of.one_of & cp_fields[i].bit)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", cp_fields[i].api);
	return cp_error_set(e, -EINVAL, "op", "%s changes nothing: give one of %s",
			    cp_op_name(r->op), list);
}

int cp_request_from_json(const json_t *obj, struct cp_request *r, struct cp_error *e)
{
	struct cp_request tmp;
	enum cp_op op = CP_OP_NONE;
	const char *key;
	size_t klen;
	json_t *v;
	int err;

	if (!json_is_object(obj))
		return cp_error_set(e, -EINVAL, "request", "a request is a JSON object, not %s",
				    obj ? type_name(obj) : "nothing");
	err = decode_version(obj, e);
	if (!err)
		err = decode_op(obj, &op, e);
	if (err)
		return err;
	cp_request_init(&tmp, op);
	/* jansson's iteration API takes a non-const object; nothing is
	 * modified. */
	json_object_keylen_foreach((json_t *)obj, key, klen, v) {
		err = decode_field(&tmp, key, klen, v, e);
		if (err)
			return err;
	}
	err = check_fields(&tmp, e);
	if (err)
		return err;
	*r = tmp;
	return 0;
}

/* --- Encoding ---------------------------------------------------------- */

static json_t *encode_strings(const struct cp_request *r)
{
	json_t *arr = json_array();
	int i;

	if (!arr)
		return NULL;
	for (i = 0; i < r->n_interfaces; i++) {
		if (strnlen(r->interfaces[i], IF_NAMESIZE) >= IF_NAMESIZE ||
		    json_array_append_new(arr, json_string(r->interfaces[i]))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The JSON value of field f, or NULL (errno set). */
static json_t *encode_value(const struct cp_request *r, const struct cp_field *f)
{
	char buf[CP_CHECK_PATH_MAX + 16];
	json_t *v;
	int err;

	switch (jkind_of(f)) {
	case J_STR:
		err = cp_request_get_text(r, f->bit, buf, sizeof(buf));
		if (err) {
			errno = -err;
			return NULL;
		}
		v = json_string(buf);
		break;
	case J_INT:
		v = json_integer((json_int_t)cp_request_get_num(r, f->bit));
		break;
	case J_BOOL:
		if (cp_request_get_num(r, f->bit) > 1) {
			errno = EINVAL;
			return NULL;
		}
		v = json_boolean(cp_request_get_num(r, f->bit));
		break;
	case J_STRS:
		if (r->n_interfaces < 1 || r->n_interfaces > CP_MAX_INTERFACES) {
			errno = EINVAL;
			return NULL;
		}
		v = encode_strings(r);
		break;
	default:
		v = NULL;
	}
	if (!v && !errno)
		errno = ENOMEM;
	return v;
}

int cp_request_fields_to_json(const struct cp_request *r, __u64 bits, json_t *obj)
{
	for (size_t i = 0; i < cp_n_fields; i++) {
		const struct cp_field *f = &cp_fields[i];
		json_t *v;

		if (!(bits & f->bit))
			continue;
		errno = 0;
		v = encode_value(r, f);
		/* set_new takes v even when it fails */
		if (!v || json_object_set_new(obj, f->api, v))
			return -(errno ? errno : ENOMEM);
	}
	return 0;
}

json_t *cp_request_to_json(const struct cp_request *r)
{
	struct cp_op_fields of;
	json_t *obj;
	__u64 have;

	if (cp_op_fields(r->op, &of)) {
		errno = EINVAL;
		return NULL;
	}
	have = r->fields | of.required;
	if (r->op == CP_OP_VIP_ADD || r->op == CP_OP_BACKEND_ADD)
		have |= cp_request_nondefault(r);
	have &= of.allowed;
	obj = json_object();
	if (!obj || json_object_set_new(obj, "v", json_integer(CP_API_VERSION)) ||
	    json_object_set_new(obj, "op", json_string(cp_op_name(r->op))))
		goto nomem;
	if (cp_request_fields_to_json(r, have, obj))
		goto fail;
	return obj;
nomem:
	errno = ENOMEM;
fail:
	json_decref(obj);
	return NULL;
}

/* --- Health checks ------------------------------------------------------ */

int cp_check_to_json(const struct cp_check *c, json_t *obj)
{
	struct cp_request r;

	cp_request_init(&r, CP_OP_VIP_ADD);
	r.spec.check = *c;
	return cp_request_fields_to_json(&r, cp_check_fields(c->type), obj);
}

int cp_check_from_json(const json_t *obj, struct cp_check *c, struct cp_error *e)
{
	const struct cp_field *type = cp_field_of(CP_F_CHECK_TYPE);
	const json_t *v = json_object_get(obj, type->api);
	struct cp_request r;
	__u64 bits;
	int err;

	cp_request_init(&r, CP_OP_VIP_ADD);
	if (!v)
		return cp_error_set(e, -EINVAL, type->api, "missing '%s'", type->api);
	err = decode_value(&r, type, v, e);
	bits = cp_check_fields(r.spec.check.type) & ~CP_F_CHECK_TYPE;
	for (size_t i = 0; i < cp_n_fields && !err; i++) {
		const struct cp_field *f = &cp_fields[i];

		v = json_object_get(obj, f->api);
		if ((bits & f->bit) && v)
			err = decode_value(&r, f, v, e);
	}
	if (err)
		return err;
	*c = r.spec.check;
	return 0;
}

/* --- Replies ----------------------------------------------------------- */

/* A JSON string of the first max bytes of s. Error texts may quote what a
 * client sent, cut mid-character by snprintf: replace what is not valid
 * UTF-8 rather than lose the whole reply. */
static json_t *safe_string(const char *s, size_t max)
{
	size_t n = strnlen(s, max), i;
	char copy[512];
	json_t *v = json_stringn(s, n);

	if (v || n >= sizeof(copy))
		return v;
	for (i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	return json_stringn(copy, n);
}

json_t *cp_reply_error(const struct cp_error *e)
{
	json_t *reply = json_object(), *err = json_object();

	if (!reply || !err)
		goto fail;
	if (json_object_set_new(err, "field", safe_string(e ? e->field : "", sizeof(e->field))) ||
	    json_object_set_new(err, "message",
				safe_string(e ? e->msg : "unknown error", sizeof(e->msg))) ||
	    json_object_set_new(reply, "v", json_integer(CP_API_VERSION)) ||
	    json_object_set_new(reply, "ok", json_false()))
		goto fail;
	/* set_new takes err even when it fails */
	if (json_object_set_new(reply, "error", err)) {
		err = NULL;
		goto fail;
	}
	return reply;
fail:
	json_decref(err);
	json_decref(reply);
	return NULL;
}

json_t *cp_reply_ok(void)
{
	json_t *reply = json_object();

	if (!reply || json_object_set_new(reply, "v", json_integer(CP_API_VERSION)) ||
	    json_object_set_new(reply, "ok", json_true())) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}
