// One error type for every emulated AWS failure. Service modules throw `AwsError` with the code the
// real service uses on its own protocol (`ClusterNotFoundException` for ECS, `NoSuchEntity` for IAM,
// `InvalidGroup.NotFound` for EC2); the protocol codecs turn it into that protocol's error shape.
// `AccessDenied` is separate because its code and status differ per protocol.

export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  /** Query protocols distinguish caller mistakes (`Sender`) from service faults (`Receiver`). */
  readonly fault: 'Sender' | 'Receiver';

  constructor(code: string, message: string, status = 400, fault: 'Sender' | 'Receiver' = 'Sender') {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
    this.fault = fault;
  }
}

/** An IAM authorization failure; each protocol renders it with its own code and status. */
export class AccessDenied extends Error {
  readonly principalArn: string;
  readonly action: string;
  readonly resource: string;
  readonly explicit: boolean;

  constructor(principalArn: string, action: string, resource: string, explicit: boolean) {
    const why = explicit
      ? `with an explicit deny in an identity-based policy`
      : `because no identity-based policy allows the ${action} action`;
    const on = resource === '*' ? '' : ` on resource: ${resource}`;
    super(`User: ${principalArn} is not authorized to perform: ${action}${on} ${why}`);
    this.name = 'AccessDenied';
    this.principalArn = principalArn;
    this.action = action;
    this.resource = resource;
    this.explicit = explicit;
  }
}
