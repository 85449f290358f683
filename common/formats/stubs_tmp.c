#include "internal.h"
bool nw_fmt_ap_anpa(const nw_input_t *in, nw_items_t *out, nw_err_t *err) { (void)in; (void)out; return nw_err_set(err, NW_ERR_INPUT, "unsupported", "not yet"); }
bool nw_fmt_reuters_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err) { (void)in; (void)out; return nw_err_set(err, NW_ERR_INPUT, "unsupported", "not yet"); }
bool nw_fmt_afp_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err) { (void)in; (void)out; return nw_err_set(err, NW_ERR_INPUT, "unsupported", "not yet"); }
