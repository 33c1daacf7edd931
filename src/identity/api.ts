// What the identity service offers the other services in-process.
export interface ProjectRef {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
}

export interface IdentityApi {
  getProject(id: string): Promise<ProjectRef | null>;
  getUser(id: string): Promise<{ id: string; name: string; domainId: string; enabled: boolean } | null>;
}
