package policy

// Example policies written for these tests in the documented grammar
// (claim-rule-grammar, policy-version-1-x, claim-rule-functions). The default
// policy itself is DefaultSGXPolicy.

// exSGXCustom is the shape of MAA's documented custom SGX policy.
const exSGXCustom = `version= 1.0;
authorizationrules
{
    [ type=="x-ms-sgx-is-debuggable", value==false ]
        && [ type=="x-ms-sgx-product-id", value==7 ]
        && [ type=="x-ms-sgx-svn", value>= 3 ]
        && [ type=="x-ms-sgx-mrsigner", value=="2c1a44952ae8207135c6c29b75b8c029372ee94b677e15c20bd42340f10d41aa"]
    => permit();
};
issuancerules {
    c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value);
};
`

// exDefault11 is the 1.1 default layout with a TCB baseline property.
const exDefault11 = "version= 1.1;\nconfigurationrules{\n\t=> issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"azuredefault\");\n};\n" +
	"authorizationrules{\n\t=> permit();\n};\nissuancerules{\n\tc:[type==\"x-ms-sgx-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);\n" +
	"\tc:[type==\"x-ms-sgx-svn\"] => issue(type=\"svn\", value=c.value);\n};\n"

// exV12 exercises 1.2: comments, "!" conditions, functions, bindings used in
// later conditions, claim=, and "=" inside a condition.
const exV12 = `version=1.2;
// sgxops test policy
configurationrules {
  => issueproperty(type="x-ms-sgx-tcbidentifier", value="10");
};
authorizationrules {
  c:[type=="x-ms-sgx-svn", value >= 2] && ![type=="x-ms-sgx-is-debuggable", value==true] => permit();
  [type=="x-sgxops-release-state", value=="revoked"] => deny();
  => add(type="authz-seen", value=true); // visible to issuance
};
issuancerules {
  c:[type=="x-ms-sgx-mrenclave", issuer=="AttestationService"] => add(type="tag", value=AppendString("enclave:", c.value));
  t:[type="tag", issuer=="AttestationPolicy"] => issue(claim=t);
  a:[type=="x-ms-sgx-product-id"] && b:[type=="x-ms-sgx-svn", value > a.value] => issue(type="svn-above-prod", value=NegateBool(false));
  ![type=="missing"] => issue(type="missing-was-absent", value=true);
  c:[type=="json"] => issue(type="parsed", value=JsonToClaimValue(c.value));
  => issue(value=-5, type="neg");
};
`

// exCaseAndSpacing uses MAA's capitalised "Version", mixed-case keywords and
// a string with escapes.
const exCaseAndSpacing = "Version = 1.0 ;\r\nAuthorizationRules{[Type==\"a\\\"b\\\\c\", Value!=\"x\"]=>Permit();} ;\r\nIssuanceRules{=>Issue(Type=\"t\",Value=True);};"

// seedPolicies are the examples every fuzz target starts from.
var seedPolicies = []string{
	DefaultSGXPolicy,
	"version=1.0; authorizationrules{=> permit();}; issuancerules{};",
	exSGXCustom, exDefault11, exV12, exCaseAndSpacing,
}
